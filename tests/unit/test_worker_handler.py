"""The message handler with fakes: outcomes, acknowledgements and log events."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from academy.config import load_config
from apps.worker.video_worker.handler import VideoMessageHandler
from src.application.domain import ErrorCode, VideoProcessingError, VideoStatus
from src.application.ports.fakes import (
    FakeTranscoder,
    InMemoryProgress,
    InMemoryQueue,
    InMemoryStorage,
)
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.ports.video_repository import VideoResult
from src.application.process_video import ProcessVideo


class World:
    def __init__(self, tmp_path: Path, fast_ack: bool = False, transcoder=None, **env) -> None:
        self.config = load_config(
            {
                "VIDEO_FAST_ACK": "1" if fast_ack else "0",
                "WORKER_ID": "worker-test",
                "VIDEO_HEARTBEAT_TTL": "3",
                "VIDEO_LEASE_SECONDS": "30",
                **env,
            }
        )
        self.repo = InMemoryVideoRepository(max_attempts=self.config.max_attempts)
        self.queue = InMemoryQueue()
        self.progress = InMemoryProgress()
        self.storage = InMemoryStorage()
        self.transcoder = transcoder or FakeTranscoder()
        self.process = ProcessVideo(self.repo, self.storage, self.transcoder, tmp_path / "work")
        self.handler = VideoMessageHandler(
            self.config, self.repo, self.queue, self.progress, self.process
        )
        self.work_root = tmp_path / "work"

    def video(self, tenant_id: int = 7) -> int:
        vid = self.repo.create_video(tenant_id, "lecture")
        key = f"tenants/{tenant_id}/videos/{vid}/source/lecture.mp4"
        self.storage.objects[key] = b"not really a video"
        self.repo.set_source_key(vid, key)
        return vid

    def message(self, video_id: int, tenant_id: int = 7, **extra):
        body = {"video_id": video_id, "tenant_id": tenant_id, "request_id": "req-1", **extra}
        return self.queue.put(json.dumps(body))

    def handle(self, msg):
        received = self.queue.receive(0)
        assert received == msg
        with capture_logs() as logs:
            result = self.handler.handle(received)
        return result, logs


def events(logs):
    return [entry["event"] for entry in logs]


@pytest.mark.parametrize("fast_ack", [False, True])
def test_success_publishes_and_deletes_exactly_once(tmp_path, fast_ack):
    w = World(tmp_path, fast_ack=fast_ack)
    vid = w.video()
    msg = w.message(vid)
    result, logs = w.handle(msg)
    assert result == "ok"
    row = w.repo.get(vid)
    assert row.status == VideoStatus.READY
    assert row.hls_key == f"tenants/7/videos/{vid}/hls/1/master.m3u8"
    assert w.storage.exists(row.hls_key)
    assert w.queue.deleted == [msg.receipt_handle]
    ev = events(logs)
    assert ("VIDEO_FAST_ACK_APPLIED" in ev) is fast_ack
    assert ("VIDEO_FAST_ACK_SKIPPED" in ev) is (not fast_ack)
    for name in ("SQS_MESSAGE_RECEIVED", "VIDEO_CLAIMED", "SQS_JOB_COMPLETED"):
        assert name in ev
    done = next(e for e in logs if e["event"] == "SQS_JOB_COMPLETED")
    assert {"claim_ms", "download_ms", "upload_ms", "total_ms"} <= set(done)
    returned = next(e for e in logs if e["event"] == "handler.handle() returned")
    assert returned["result"] == "ok"
    assert not list(w.work_root.iterdir()), "job folder left behind"
    assert (7, vid) not in w.progress.heartbeats, "heartbeat outlived the job"
    assert w.progress.progress[(7, vid)]["percent"] >= 0


BIGINT = "(at most 9223372036854775807)"


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
def test_bad_messages_are_rejected_and_deleted(tmp_path, body, reason):
    w = World(tmp_path)
    msg = w.queue.put(body)
    result, logs = w.handle(msg)
    assert result == "skip:not_found"
    rejected = next(e for e in logs if e["event"] == "SQS_MESSAGE_REJECTED")
    assert rejected["reason"] == reason
    assert w.queue.deleted == [msg.receipt_handle]


def test_wrong_tenant_is_rejected_and_row_untouched(tmp_path):
    w = World(tmp_path)
    vid = w.video(tenant_id=7)
    result, logs = w.handle(w.message(vid, tenant_id=8))
    assert result == "skip:not_found"
    assert w.repo.get(vid).status == VideoStatus.UPLOADED
    assert "video does not belong to tenant" in [e.get("reason") for e in logs]


def test_duplicate_delivery_of_claimed_or_ready_video_is_dropped(tmp_path):
    w = World(tmp_path)
    vid = w.video()
    lease = w.repo.try_claim_video(vid, "other-worker")
    result, logs = w.handle(w.message(vid))
    assert result == "skip:claimed"
    assert "VIDEO_CLAIM_SKIPPED" in events(logs)
    assert w.repo.get(vid).leased_by == "other-worker"
    w.repo.complete(lease, VideoResult(hls_key="x"))
    result, _ = w.handle(w.message(vid))
    assert result == "skip:claimed"
    assert len(w.queue.deleted) == 2
    assert w.transcoder.calls == []


def test_canceled_video_is_skipped(tmp_path):
    w = World(tmp_path)
    vid = w.video()
    w.repo.cancel(vid)
    result, _ = w.handle(w.message(vid))
    assert result == "skip:cancel"


def test_non_retryable_failure_ends_failed(tmp_path):
    err = VideoProcessingError(ErrorCode.UNSUPPORTED_MEDIA, "text file", retryable=False)
    w = World(tmp_path, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    msg = w.message(vid)
    result, logs = w.handle(msg)
    assert result == "fail"
    row = w.repo.get(vid)
    assert (row.status, row.error_code) == (VideoStatus.FAILED, ErrorCode.UNSUPPORTED_MEDIA)
    assert w.queue.deleted == [msg.receipt_handle]
    assert "VIDEO_PROCESSING_FAILED" in events(logs)
    assert not list(w.work_root.iterdir())


@pytest.mark.parametrize("fast_ack", [False, True])
def test_retryable_failure_backs_off_then_exhausts(tmp_path, fast_ack):
    err = VideoProcessingError(ErrorCode.TRANSCODE_STALLED, "no progress", retryable=True)
    w = World(tmp_path, fast_ack=fast_ack, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    results = []
    for _ in range(w.config.max_attempts):
        msg = w.message(vid)
        result, _ = w.handle(msg)
        results.append(result)
    assert results == ["retry", "retry", "fail"]
    row = w.repo.get(vid)
    assert (row.status, row.error_code) == (VideoStatus.FAILED, ErrorCode.MAX_ATTEMPTS_EXCEEDED)
    if fast_ack:
        assert [s["delay_seconds"] for s in w.queue.sent] == [30, 60]
        assert w.queue.visibility_changes == []
    else:
        assert [s for _, s in w.queue.visibility_changes] == [30, 60]
        assert w.queue.sent == []


def test_shutdown_mid_job_releases_without_counting_attempt(tmp_path):
    w = World(tmp_path, transcoder=FakeTranscoder(seconds=5, steps=50))
    vid = w.video()
    msg = w.message(vid)
    threading.Timer(0.3, w.handler.stop_current).start()
    t = time.monotonic()
    result, _ = w.handle(msg)
    assert time.monotonic() - t < 3
    assert result == "retry"
    row = w.repo.get(vid)
    assert (row.status, row.attempts, row.leased_by) == (VideoStatus.UPLOADED, 0, "")
    assert w.queue.visibility_changes == [(msg.receipt_handle, 0)]
    assert w.queue.deleted == []
    assert not list(w.work_root.iterdir())


def test_lease_lost_mid_job_stops_and_publishes_nothing(tmp_path):
    w = World(tmp_path, transcoder=FakeTranscoder(seconds=6, steps=60), VIDEO_HEARTBEAT_TTL="1")
    vid = w.video()
    msg = w.message(vid)

    def steal():
        w.repo.try_reclaim_video(vid, force=True)
        w.repo.try_claim_video(vid, "thief")

    threading.Timer(0.5, steal).start()
    t = time.monotonic()
    result, logs = w.handle(msg)
    assert time.monotonic() - t < 3, "job not stopped at the next renewal"
    assert result == "skip:claimed"
    assert "VIDEO_LEASE_LOST" in events(logs)
    row = w.repo.get(vid)
    assert (row.status, row.leased_by) == (VideoStatus.PROCESSING, "thief")
    assert w.storage.list_keys(f"tenants/7/videos/{vid}/hls/") == []


def test_cancel_mid_job_is_noticed_at_renewal(tmp_path):
    w = World(tmp_path, transcoder=FakeTranscoder(seconds=6, steps=60), VIDEO_HEARTBEAT_TTL="1")
    vid = w.video()
    threading.Timer(0.5, w.repo.cancel, args=(vid,)).start()
    result, _ = w.handle(w.message(vid))
    assert result == "skip:cancel"
    assert w.repo.get(vid).status == VideoStatus.CANCELED


def test_redis_down_does_not_stop_the_job(tmp_path):
    w = World(tmp_path, transcoder=FakeTranscoder(seconds=0.5, steps=5), VIDEO_HEARTBEAT_TTL="1")
    w.progress.available = False
    vid = w.video()
    result, logs = w.handle(w.message(vid))
    assert result == "ok"
    warnings = [e for e in logs if e["event"] == "REDIS_UNAVAILABLE"]
    assert 1 <= len(warnings) <= 2, "one warning per interval, not one per write"


def test_missing_source_is_a_clear_failure(tmp_path):
    w = World(tmp_path)
    vid = w.video()
    w.storage.objects.clear()
    result, _ = w.handle(w.message(vid))
    assert result == "fail"
    assert w.repo.get(vid).error_code == ErrorCode.SOURCE_MISSING


def test_a_huge_trace_id_is_cut_to_128_characters_in_logs_and_resent_messages(tmp_path):
    err = VideoProcessingError(ErrorCode.TRANSCODE_STALLED, "no progress", retryable=True)
    w = World(tmp_path, fast_ack=True, transcoder=FakeTranscoder(error=err))
    vid = w.video()
    msg = w.queue.put(
        json.dumps({"video_id": vid, "tenant_id": 7, "request_id": "r"}), trace_id="t" * 200_000
    )
    result, logs = w.handle(msg)
    assert result == "retry"
    assert {len(entry["trace_id"]) for entry in logs if "trace_id" in entry} == {128}
    assert [len(sent["trace_id"]) for sent in w.queue.sent] == [128]
