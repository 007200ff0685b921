"""The handle-job use case on fakes, through the worker's acknowledger: every outcome, with
fast ack off and on, judged by the row, the log events and when the message comes back."""

from __future__ import annotations

import json
import threading

import pytest

from src.application.domain import ErrorCode, StopReason, VideoProcessingError, VideoStatus
from src.application.ports.fakes import FakeTranscoder
from src.application.ports.video_repository import VideoResult
from src.application.storage_keys import job_output_prefix, media_video_prefix

BOTH = pytest.mark.parametrize("fast_ack", [False, True], ids=["ack-after", "fast-ack"])


def events(logs) -> list[str]:
    return [entry["event"] for entry in logs]


def returned(logs) -> dict:
    return next(e for e in logs if e["event"] == "handler.handle() returned")


def stop_when_started(world, action) -> threading.Thread:
    """Run `action` once the transcoder has started: the job is mid-encode, not before."""

    def run() -> None:
        assert world.transcoder.started.wait(10), "the job never started"
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@BOTH
def test_success_publishes_and_the_message_is_gone(make_world, fast_ack):
    w = make_world(fast_ack=fast_ack)
    vid = w.video()
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "ok" and returned(logs)["result"] == "ok"
    row = w.repo.get(vid)
    assert row.status == VideoStatus.READY
    salt = w.repo.media_salt(vid)
    assert row.hls_key == f"{job_output_prefix(salt, 1)}/master.m3u8"
    assert w.storage.exists(row.hls_key)
    assert w.queue.messages() == []
    w.clock.advance(3600)
    assert w.queue.receive(0) is None, "the message came back after success"
    ev = events(logs)
    assert ("VIDEO_FAST_ACK_APPLIED" in ev) is fast_ack
    assert ("VIDEO_FAST_ACK_SKIPPED" in ev) is (not fast_ack)
    assert (
        ev.index("SQS_MESSAGE_RECEIVED") < ev.index("VIDEO_CLAIMED") < ev.index("SQS_JOB_COMPLETED")
    )
    done = next(e for e in logs if e["event"] == "SQS_JOB_COMPLETED")
    assert {"claim_ms", "download_ms", "upload_ms", "total_ms"} <= set(done)
    assert done["video_id"] == vid and done["request_id"] == "req-1"
    assert not list(w.work_root.iterdir()), "job folder left behind"
    assert not w.progress.has_heartbeat(7, vid), "heartbeat outlived the job"
    assert w.progress.get_progress(7, vid)["step"] == "ready"


BIGINT = "(at most 9223372036854775807)"


@BOTH
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "body is not valid JSON"),
        ('["a"]', "body is not a JSON object"),
        ('{"video_id": "1", "tenant_id": 7}', f"video_id must be a positive integer {BIGINT}"),
        ('{"video_id": 99999, "tenant_id": 7}', "no such video"),
        ("[" * 2000 + "]" * 2000, "body is nested too deeply to be a job"),
        (
            f'{{"video_id": 7, "tenant_id": {2**63}}}',
            f"tenant_id must be a positive integer {BIGINT}",
        ),
    ],
)
def test_bad_messages_are_rejected_and_never_come_back(make_world, fast_ack, body, reason):
    w = make_world(fast_ack=fast_ack)
    w.queue.put(body)
    result, logs = w.handle_next()
    assert result == "skip:not_found"
    rejected = next(e for e in logs if e["event"] == "SQS_MESSAGE_REJECTED")
    assert rejected["reason"] == reason
    assert rejected["body_preview"] == body[:200]
    assert w.queue.messages() == []


def test_wrong_tenant_is_rejected_and_the_row_untouched(world):
    vid = world.video(tenant_id=7)
    world.message(vid, tenant_id=8)
    result, logs = world.handle_next()
    assert result == "skip:not_found"
    assert world.repo.get(vid).status == VideoStatus.UPLOADED
    assert "video does not belong to tenant" in [e.get("reason") for e in logs]
    assert world.queue.messages() == []


@BOTH
def test_duplicate_delivery_of_a_claimed_or_ready_video_is_dropped(make_world, fast_ack):
    w = make_world(fast_ack=fast_ack)
    vid = w.video()
    lease = w.repo.try_claim_video(vid, "other-worker")
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "skip:claimed"
    skipped = next(e for e in logs if e["event"] == "VIDEO_CLAIM_SKIPPED")
    assert (skipped["status"], skipped["leased_by"]) == (VideoStatus.PROCESSING, "other-worker")
    assert w.repo.get(vid).leased_by == "other-worker"
    w.repo.complete(lease, VideoResult(hls_key="x"))
    w.message(vid)
    result, _ = w.handle_next()
    assert result == "skip:claimed"
    assert w.queue.messages() == []
    assert w.transcoder.calls == []


@BOTH
def test_duplicate_delivery_of_a_video_failed_on_bad_media_is_a_skip(make_world, fast_ack):
    err = VideoProcessingError(ErrorCode.UNSUPPORTED_MEDIA, "a text file")
    w = make_world(fast_ack=fast_ack, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "fail" and events(logs).count("VIDEO_PROCESSING_FAILED") == 1
    w.message(vid)  # SQS delivered the job twice
    result, logs = w.handle_next()
    assert result == "skip:claimed"
    assert "VIDEO_PROCESSING_FAILED" not in events(logs)
    skipped = next(e for e in logs if e["event"] == "VIDEO_CLAIM_SKIPPED")
    assert skipped["status"] == VideoStatus.FAILED
    assert w.repo.get(vid).error_code == ErrorCode.UNSUPPORTED_MEDIA
    assert len(w.transcoder.calls) == 1


@BOTH
def test_only_the_claim_that_used_up_the_attempts_reports_the_failure(make_world, fast_ack):
    w = make_world(fast_ack=fast_ack)
    vid = w.video()
    for n in range(w.config.max_attempts):  # each worker died mid-job; reconcile gave it back
        assert w.repo.try_claim_video(vid, f"dead-{n}") is not None
        assert w.repo.try_reclaim_video(vid, force=True)
    w.message(vid)
    w.message(vid)
    first, first_logs = w.handle_next()
    second, second_logs = w.handle_next()
    assert (first, second) == ("fail", "skip:claimed")
    failed = [e for e in first_logs if e["event"] == "VIDEO_PROCESSING_FAILED"]
    assert [(e["error_code"], e["attempts"]) for e in failed] == [
        (ErrorCode.MAX_ATTEMPTS_EXCEEDED, w.config.max_attempts)
    ]
    assert "VIDEO_PROCESSING_FAILED" not in events(second_logs)
    assert "VIDEO_CLAIM_SKIPPED" in events(second_logs)
    row = w.repo.get(vid)
    assert (row.status, row.error_code) == (VideoStatus.FAILED, ErrorCode.MAX_ATTEMPTS_EXCEEDED)
    assert w.queue.messages() == [] and w.transcoder.calls == []


def test_a_claim_lost_to_another_worker_is_a_skip(world):
    vid = world.video()

    real_claim = world.repo.claim_video

    def lose_the_race(video_id, worker_id, lease_seconds=None):
        real_claim(video_id, "faster-worker")  # between our read and our claim
        return real_claim(video_id, worker_id, lease_seconds)

    world.repo.claim_video = lose_the_race
    world.message(vid)
    result, logs = world.handle_next()
    assert result == "skip:claimed"
    skipped = next(e for e in logs if e["event"] == "VIDEO_CLAIM_SKIPPED")
    assert (skipped["status"], skipped["leased_by"]) == (VideoStatus.PROCESSING, "faster-worker")
    assert world.queue.messages() == []


@BOTH
def test_a_canceled_video_is_skipped(make_world, fast_ack):
    w = make_world(fast_ack=fast_ack)
    vid = w.video()
    w.repo.cancel(vid)
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "skip:cancel"
    assert returned(logs)["status"] == VideoStatus.CANCELED
    assert w.queue.messages() == [] and w.transcoder.calls == []


@BOTH
def test_a_non_retryable_failure_ends_failed(make_world, fast_ack):
    err = VideoProcessingError(ErrorCode.UNSUPPORTED_MEDIA, "text file")
    w = make_world(fast_ack=fast_ack, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "fail"
    row = w.repo.get(vid)
    assert (row.status, row.error_code, row.error_message) == (
        VideoStatus.FAILED,
        ErrorCode.UNSUPPORTED_MEDIA,
        "text file",
    )
    failed = next(e for e in logs if e["event"] == "VIDEO_PROCESSING_FAILED")
    assert (failed["error_code"], failed["retryable"]) == (ErrorCode.UNSUPPORTED_MEDIA, False)
    assert w.queue.messages() == []
    assert not list(w.work_root.iterdir())
    assert w.progress.get_progress(7, vid)["step"] == "failed"


@BOTH
def test_a_retryable_failure_comes_back_after_the_backoff_then_exhausts(make_world, fast_ack):
    err = VideoProcessingError(ErrorCode.TRANSCODE_STALLED, "no progress")
    w = make_world(fast_ack=fast_ack, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    w.message(vid)
    results = []
    for backoff in (30, 60):
        result, logs = w.handle_next()
        results.append(result)
        retry = next(e for e in logs if e["event"] == "VIDEO_PROCESSING_RETRY")
        assert retry["retry_in_seconds"] == backoff
        assert w.repo.get(vid).status == VideoStatus.UPLOADED
        w.clock.advance(backoff - 1)
        assert w.queue.receive(0) is None, f"back before its {backoff} s backoff"
        w.clock.advance(1)
    result, logs = w.handle_next()
    results.append(result)
    assert results == ["retry", "retry", "fail"]
    row = w.repo.get(vid)
    assert (row.status, row.error_code) == (VideoStatus.FAILED, ErrorCode.MAX_ATTEMPTS_EXCEEDED)
    assert row.error_message == "attempts exhausted (3); last error: TRANSCODE_STALLED: no progress"
    assert w.queue.messages() == []


@BOTH
def test_an_unexpected_error_is_a_retryable_internal_error(make_world, fast_ack):
    class Broken(FakeTranscoder):
        def transcode(self, *args):
            raise RuntimeError("bug in the pipeline")

    w = make_world(fast_ack=fast_ack, transcoder=Broken())
    vid = w.video()
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "retry"
    assert "VIDEO_JOB_ERROR" in events(logs)
    row = w.repo.get(vid)
    assert (row.status, row.error_code) == (VideoStatus.UPLOADED, ErrorCode.INTERNAL_ERROR)
    assert row.error_message == "RuntimeError: bug in the pipeline"
    [message] = w.queue.messages()
    assert (message["video_id"], message["visible_in"]) == (vid, 30)


@BOTH
def test_shutdown_mid_job_hands_the_video_and_its_message_back_at_once(make_world, fast_ack):
    w = make_world(fast_ack=fast_ack, transcoder=FakeTranscoder(seconds=60, steps=600))
    vid = w.video()
    w.message(vid, trace_id="t-1")
    stop_when_started(w, w.handler.stop_current)
    result, logs = w.handle_next()
    assert result == "retry"
    released = next(e for e in logs if e["event"] == "VIDEO_RELEASED")
    assert (released["reason"], released["released"]) == (StopReason.SHUTDOWN, True)
    row = w.repo.get(vid)
    assert (row.status, row.attempts, row.leased_by) == (VideoStatus.UPLOADED, 0, "")
    [message] = w.queue.messages()
    assert (message["video_id"], message["visible_in"]) == (vid, 0)
    assert not list(w.work_root.iterdir())


@BOTH
def test_visibility_cap_retries_with_a_fresh_message(make_world, fast_ack):
    w = make_world(fast_ack=fast_ack, transcoder=FakeTranscoder(seconds=60, steps=600))
    vid = w.video()
    first = w.message(vid)
    stop_when_started(w, lambda: w.handler.stop_current(StopReason.VISIBILITY_CAP))
    result, _ = w.handle_next()
    assert result == "retry"
    row = w.repo.get(vid)
    assert (row.status, row.error_code) == (VideoStatus.UPLOADED, ErrorCode.VISIBILITY_CAP_REACHED)
    [message] = w.queue.messages()
    assert message["message_id"] != first, "the capped delivery cannot be reused"
    assert (message["video_id"], message["visible_in"], message["request_id"]) == (
        vid,
        30,
        "req-1",
    )


@BOTH
def test_lease_lost_mid_job_stops_and_publishes_nothing(make_world, fast_ack):
    w = make_world(
        fast_ack=fast_ack,
        transcoder=FakeTranscoder(seconds=60, steps=600),
        VIDEO_HEARTBEAT_TTL="1",
    )
    vid = w.video()
    w.message(vid)

    def steal():
        w.repo.try_reclaim_video(vid, force=True)
        w.repo.try_claim_video(vid, "thief")

    stop_when_started(w, steal)
    result, logs = w.handle_next()
    assert result == "skip:claimed"
    assert "VIDEO_LEASE_LOST" in events(logs)
    row = w.repo.get(vid)
    assert (row.status, row.leased_by) == (VideoStatus.PROCESSING, "thief")
    assert w.storage.list_keys(media_video_prefix(w.repo.media_salt(vid)) + "/") == []
    assert w.queue.messages() == []


@BOTH
def test_cancel_mid_job_is_noticed_at_renewal(make_world, fast_ack):
    w = make_world(
        fast_ack=fast_ack,
        transcoder=FakeTranscoder(seconds=60, steps=600),
        VIDEO_HEARTBEAT_TTL="1",
    )
    vid = w.video()
    w.message(vid)
    stop_when_started(w, lambda: w.repo.cancel(vid))
    result, logs = w.handle_next()
    assert result == "skip:cancel"
    assert "VIDEO_CANCELED" in events(logs)
    assert w.repo.get(vid).status == VideoStatus.CANCELED
    assert w.queue.messages() == []


def test_redis_down_does_not_stop_the_job(make_world):
    w = make_world(transcoder=FakeTranscoder(seconds=0.5, steps=5), VIDEO_HEARTBEAT_TTL="1")
    w.progress.available = False
    vid = w.video()
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "ok"
    # Every heartbeat and progress write failed; the clock did not move: one warning.
    warnings = [e for e in logs if e["event"] == "REDIS_UNAVAILABLE"]
    assert len(warnings) == 1, "one warning per interval, not one per write"


def test_missing_source_is_a_clear_failure(world):
    vid = world.video()
    world.storage.objects.clear()
    world.message(vid)
    result, _ = world.handle_next()
    assert result == "fail"
    row = world.repo.get(vid)
    assert (row.error_code, row.error_message) == (
        ErrorCode.SOURCE_MISSING,
        f"source object tenants/7/videos/{vid}/source/lecture.mp4 does not exist",
    )


def test_a_huge_trace_id_is_cut_to_128_characters_in_logs_and_resent_messages(make_world):
    err = VideoProcessingError(ErrorCode.TRANSCODE_STALLED, "no progress")
    w = make_world(fast_ack=True, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    w.queue.put(
        json.dumps({"video_id": vid, "tenant_id": 7, "request_id": "r"}), trace_id="t" * 200_000
    )
    result, logs = w.handle_next()
    assert result == "retry"
    assert {len(entry["trace_id"]) for entry in logs if "trace_id" in entry} == {128}
    assert [len(m["trace_id"]) for m in w.queue.messages()] == [128]


@BOTH
def test_a_full_disk_hands_the_video_back_without_spending_an_attempt(make_world, fast_ack):
    err = VideoProcessingError(ErrorCode.NO_SPACE_LEFT, "no space left on the work folder")
    w = make_world(fast_ack=fast_ack, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    w.message(vid)
    result, logs = w.handle_next()
    assert result == "retry"
    released = next(e for e in logs if e["event"] == "VIDEO_RELEASED")
    assert (released["reason"], released["error_code"], released["retry_in_seconds"]) == (
        "no_space",
        ErrorCode.NO_SPACE_LEFT,
        30,
    )
    row = w.repo.get(vid)
    assert (row.status, row.attempts, row.error_code) == (
        VideoStatus.UPLOADED,
        0,
        ErrorCode.NO_SPACE_LEFT,
    )
    [message] = w.queue.messages()
    assert (message["video_id"], message["visible_in"]) == (vid, 30)
