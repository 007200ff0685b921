"""What operators grep for, in the order the runbook promises; fast ack never touches a
message's visibility; progress never reaches the database."""

from __future__ import annotations

import functools

import pytest

from src.application.domain import ErrorCode, VideoProcessingError
from src.application.ports.fakes import FakeTranscoder

RUNBOOK = (
    "VIDEO_FAST_ACK_APPLIED",
    "VIDEO_FAST_ACK_SKIPPED",
    "SQS_MESSAGE_RECEIVED",
    "handler.handle() returned",
    "SQS_MESSAGE_DELETED",
    "SQS_JOB_COMPLETED",
)


def _grep(logs) -> list[str]:
    """`docker logs … | grep -E "…"` as the runbook writes it."""
    return [e["event"] for e in logs if e["event"] in RUNBOOK]


def test_fast_ack_off_deletes_the_message_just_before_the_job_is_reported_done(make_world):
    w = make_world(fast_ack=False)
    w.message(w.video())
    result, logs = w.handle_next()
    assert result == "ok"
    assert _grep(logs) == [
        "SQS_MESSAGE_RECEIVED",
        "VIDEO_FAST_ACK_SKIPPED",
        "handler.handle() returned",
        "SQS_MESSAGE_DELETED",
        "SQS_JOB_COMPLETED",
    ]
    deleted = next(e for e in logs if e["event"] == "SQS_MESSAGE_DELETED")
    assert len(deleted["receipt_handle_suffix"]) == 12
    returned = next(e for e in logs if e["event"] == "handler.handle() returned")
    assert returned["result"] == "ok"
    done = next(e for e in logs if e["event"] == "SQS_JOB_COMPLETED")
    assert {"hls_key", "claim_ms", "total_ms"} <= set(done)


def test_fast_ack_on_reports_in_the_runbook_order_without_a_delete_line(make_world):
    w = make_world(fast_ack=True)
    w.message(w.video())
    _result, logs = w.handle_next()
    assert _grep(logs) == [
        "SQS_MESSAGE_RECEIVED",
        "VIDEO_FAST_ACK_APPLIED",
        "handler.handle() returned",
        "SQS_JOB_COMPLETED",
    ]


def test_a_failed_delete_is_logged_before_the_job_is_reported_done(make_world):
    w = make_world(fast_ack=False)
    w.message(w.video())

    def refuse(message):
        raise ConnectionError("SQS is down")

    w.queue.delete = refuse
    _result, logs = w.handle_next()
    events = [e["event"] for e in logs]
    assert "SQS_MESSAGE_DELETED" not in events
    assert events.index("SQS_ACK_FAILED") < events.index("SQS_JOB_COMPLETED")


def _spy_visibility(world) -> list[int]:
    calls: list[int] = []
    original = world.queue.change_visibility

    @functools.wraps(original)
    def spy(message, seconds):
        calls.append(seconds)
        return original(message, seconds)

    world.queue.change_visibility = spy
    return calls


@pytest.mark.parametrize(
    "transcoder",
    [
        lambda: FakeTranscoder(seconds=2.5),  # longer than the visibility timeout
        lambda: FakeTranscoder(error=VideoProcessingError(ErrorCode.STORAGE_FAILED, "blip")),
        lambda: FakeTranscoder(error=VideoProcessingError(ErrorCode.TRANSCODE_FAILED, "bad")),
    ],
    ids=["long-success", "retryable-failure", "final-failure"],
)
def test_fast_ack_never_changes_a_message_visibility(make_world, transcoder):
    w = make_world(fast_ack=True, transcoder=transcoder(), VIDEO_VISIBILITY_TIMEOUT="2")
    calls = _spy_visibility(w)
    w.message(w.video())
    w.handle_next()
    assert calls == []


def test_with_fast_ack_off_the_same_jobs_do_change_visibility(make_world):
    """The spy above sees calls when there are some: a long job's visibility is extended."""
    w = make_world(
        fast_ack=False, transcoder=FakeTranscoder(seconds=2.5), VIDEO_VISIBILITY_TIMEOUT="2"
    )
    calls = _spy_visibility(w)
    w.message(w.video())
    w.handle_next()
    assert calls


def _writes_during_a_job(make_world, steps: int) -> dict[str, int]:
    w = make_world(transcoder=FakeTranscoder(steps=steps))
    vid = w.video()
    writes: dict[str, int] = {}
    database = w.services.unit_of_work.videos  # the repository under every wrapper
    for name in dir(database):
        if name.startswith(("get", "list", "find", "count", "_")) or not callable(
            getattr(database, name)
        ):
            continue
        original = getattr(database, name)

        def counted(*args, __name=name, __original=original, **kwargs):
            writes[__name] = writes.get(__name, 0) + 1
            return __original(*args, **kwargs)

        setattr(database, name, counted)
    w.message(vid)
    assert w.handle_next()[0] == "ok"
    assert w.progress.get_progress(7, vid)["step"] == "ready"  # progress went to Redis
    return writes


def test_progress_is_never_written_to_the_database(make_world):
    few = _writes_during_a_job(make_world, steps=2)
    many = _writes_during_a_job(make_world, steps=60)
    assert {"claim_video", "complete"} <= set(few), few  # the spy sees the writes
    # Sixty progress reports cost the database exactly what two do: none is written there.
    assert many == few
    assert not any("progress" in name for name in many)
