"""The receive loop and the visibility extender with fakes: heartbeat lines, idle exit,
signals, the 12-hour cap."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from structlog.testing import capture_logs

from apps.worker.video_worker.assembly import worker_loop
from apps.worker.video_worker.loop import WorkerLoop
from apps.worker.video_worker.visibility import VisibilityExtender
from bench.harness import wait_until
from src.application.domain import StopReason, VideoStatus
from src.application.job_control import JobControl
from src.application.ports.fakes import FakeClock, FakeTranscoder, InMemoryQueue


def _loop(world, **options) -> WorkerLoop:
    """The worker's loop as sqs_main gets it from the composition root."""
    return worker_loop(
        world.services,
        world.handler,
        grace_seconds=options.pop("grace_seconds", 5),
        wait_seconds=1,
        **options,
    )


def test_idle_exit_and_worker_heartbeat_lines(world):
    w = world
    loop = _loop(w, exit_when_idle=1.0, heartbeat_seconds=0.3)
    with capture_logs() as logs:
        assert loop.run() == 0
    beats = [e for e in logs if e["event"] == "WORKER_HEARTBEAT"]
    assert len(beats) >= 2
    assert {"iterations", "handled", "errors"} <= set(beats[0])
    assert [e["event"] for e in logs][-1] == "WORKER_SHUTDOWN"


def test_max_messages_and_errors_never_kill_the_loop(world):
    w = world
    vids = [w.video() for _ in range(3)]
    for vid in vids:
        w.message(vid)
    boom = {"n": 0}
    real_get = w.repo.get

    def flaky_get(video_id):
        boom["n"] += 1
        if boom["n"] == 1:
            raise RuntimeError("database hiccup")
        return real_get(video_id)

    w.repo.get = flaky_get
    loop = _loop(w, max_messages=2, exit_when_idle=3)
    with capture_logs() as logs:
        assert loop.run() == 0
    assert loop.errors == 1 and loop.handled == 2
    [error] = [e for e in logs if e["event"] == "WORKER_LOOP_ERROR"]
    # The failure came with one message: that message waits (30 s, by its receive count),
    # the worker does not. Before: the whole worker slept 1 s, doubling to 30 s.
    assert (error["retry_in_seconds"], error["message_retry_in_seconds"]) == (0, 30)
    ready = [v for v in vids if w.repo.get(v).status == VideoStatus.READY]
    assert len(ready) == 2
    # The failed message is still queued, hidden for those 30 s, then back.
    [left] = w.queue.messages()
    assert (left["video_id"], left["visible_in"]) == (vids[0], 30)


def test_sigterm_mid_job_past_grace_releases_and_exits_zero(make_world):
    w = make_world(transcoder=FakeTranscoder(seconds=30, steps=300))
    vid = w.video()
    w.message(vid)
    loop = _loop(w, grace_seconds=0.5)
    loop.install_signal_handlers()
    try:
        threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM)).start()
        t = time.monotonic()
        with capture_logs() as logs:
            assert loop.run() == 0
        assert time.monotonic() - t < 5
    finally:
        loop.restore_signal_handlers()
    row = w.repo.get(vid)
    assert (row.status, row.attempts) == (VideoStatus.UPLOADED, 0)
    events = [e["event"] for e in logs]
    assert "WORKER_STOPPING" in events and "VIDEO_RELEASED" in events
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_visibility_extender_keeps_the_message_hidden_then_fails_closed_at_cap():
    queue = InMemoryQueue(visibility_timeout=1)
    queue.put(json.dumps({"video_id": 1, "tenant_id": 1}))
    msg = queue.receive(0)
    control = JobControl()
    with VisibilityExtender(queue, msg, control, timeout=1, cap_seconds=3):
        wait_until(control.should_stop, 5, interval=0.05, what="the extender to hit the cap")
        # Extended every third of the timeout: hidden the whole time, two seconds past it.
        assert queue.receive(0) is None
    assert control.stop_reason() == StopReason.VISIBILITY_CAP


class _LatePollQueue(InMemoryQueue):
    """A long poll that is answered only after the worker has walked away from it."""

    def receive(self, wait_seconds, visibility_timeout=None):
        time.sleep(0.5)
        return super().receive(0)


@pytest.mark.parametrize("fast_ack", [False, True])
def test_message_of_an_abandoned_poll(fast_ack):
    from apps.worker.video_worker.poller import InterruptiblePoller

    clock = FakeClock()
    queue = _LatePollQueue(visibility_timeout=30, clock=clock)
    queue.put(json.dumps({"video_id": 1, "tenant_id": 1}))
    poller = InterruptiblePoller(queue, 20, 30, return_abandoned=not fast_ack)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert poller.poll(stop)[0] is None
    assert poller.drain(5) == 1
    # Off: handed straight back. On: never ChangeMessageVisibility (invariant 9), so the
    # message returns only after its visibility timeout.
    [message] = queue.messages()
    assert (message["receive_count"], message["visible_in"]) == (1, 30 if fast_ack else 0)


def test_message_answered_as_the_stop_arrives_is_not_handled():
    from apps.worker.video_worker.poller import InterruptiblePoller

    queue = InMemoryQueue(clock=FakeClock())
    queue.put(json.dumps({"video_id": 1, "tenant_id": 1}))
    stop = threading.Event()
    stop.set()  # the stop and the poll's answer land in the same check interval
    got, _ = InterruptiblePoller(queue, 20, 30).poll(stop)
    assert got is None
    [message] = queue.messages()
    assert (message["receive_count"], message["visible_in"]) == (1, 0)


def test_a_queue_that_does_not_exist_yet_is_waited_for_and_logged_once(make_world, tmp_path):
    # Before: the worker exited 1 ("does not exist") when it started before compose's setup
    # had made the queue, and its container restarted in a loop.
    from src.application.ports.queue import QueueNotFound

    w = make_world(LIVENESS_FILE=str(tmp_path / "alive"))
    vid = w.video()
    w.message(vid)
    checks = {"n": 0}
    created = threading.Event()

    def check():
        checks["n"] += 1
        if not created.is_set():
            raise QueueNotFound("SQS queue 'academy-video-jobs' does not exist")

    w.queue.check = check
    loop = _loop(w, max_messages=1, hold_recheck_seconds=0.01)
    with capture_logs() as logs:
        runner = threading.Thread(target=loop.run)
        runner.start()
        wait_until(lambda: checks["n"] >= 5, 10, interval=0.01, what="the worker to look again")
        assert loop.handled == 0  # nothing received while the queue is missing
        created.set()
        runner.join(10)
    assert not runner.is_alive()
    events = [e["event"] for e in logs]
    assert events.count("WORKER_QUEUE_MISSING") == 1
    missing = next(e for e in logs if e["event"] == "WORKER_QUEUE_MISSING")
    assert missing["receiving"] is False and "does not exist" in missing["error"]
    assert events.index("WORKER_RESUMED") < events.index("SQS_JOB_COMPLETED")
    assert w.repo.get(vid).status == VideoStatus.READY
    assert (tmp_path / "alive").read_text() == "120\n"  # the loop kept its liveness file


def test_the_liveness_file_stays_fresh_while_a_long_job_holds_the_loop(
    make_world, tmp_path, monkeypatch
):
    from apps.worker.video_worker import loop as loop_module

    monkeypatch.setattr(loop_module, "LIVENESS_BUSY_SECONDS", 0.2)
    alive = tmp_path / "alive"
    w = make_world(transcoder=FakeTranscoder(seconds=3, steps=30), LIVENESS_FILE=str(alive))
    vid = w.video()
    w.message(vid)
    loop = _loop(w, max_messages=1)
    beats = []
    real_beat = loop.liveness.beat
    loop.liveness.beat = lambda: (beats.append(w.handler.busy), real_beat())
    assert loop.run() == 0
    assert beats.count(True) >= 3  # written from the side thread during the 3 s job
    assert alive.exists()
