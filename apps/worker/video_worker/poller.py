"""A long poll that the worker can walk away from the moment it is told to stop."""

from __future__ import annotations

import threading
import time

import structlog

from src.application.ports.queue import QueueMessage, VideoQueue

# How often the waiting main thread looks at the stop flag during a long poll.
STOP_CHECK_SECONDS = 0.1


class InterruptiblePoller:
    def __init__(
        self,
        queue: VideoQueue,
        wait_seconds: int,
        visibility_timeout: int | None,
        return_abandoned: bool = True,
    ) -> None:
        self.queue = queue
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        # Fast-ack mode never calls ChangeMessageVisibility (docs/ARCHITECTURE.md, invariant 9): a
        # message an abandoned poll got then returns after its visibility timeout, and the
        # row, still UPLOADED, is re-enqueued by reconcile if it does not.
        self.return_abandoned = return_abandoned
        self._abandoned: list[threading.Thread] = []

    def drain(self, timeout: float, cancel: threading.Event | None = None) -> int:
        """Wait for polls we walked away from: SQS may still hand them a message (the server
        does not see us leave), which they then give straight back. Returns how many were
        still open."""
        deadline = time.monotonic() + timeout
        open_polls = [t for t in self._abandoned if t.is_alive()]
        for thread in open_polls:
            while thread.is_alive() and time.monotonic() < deadline:
                if cancel is not None and cancel.is_set():
                    return len(open_polls)
                thread.join(STOP_CHECK_SECONDS)
        return len(open_polls)

    def poll(
        self, stop: threading.Event, wait_seconds: int | None = None
    ) -> tuple[QueueMessage | None, float]:
        """One long poll; (None, t) when it ends empty or `stop` is set. Errors propagate."""
        wait = self.wait_seconds if wait_seconds is None else min(wait_seconds, self.wait_seconds)
        state: dict = {"abandoned": False}
        lock = threading.Lock()
        done = threading.Event()

        def run() -> None:
            try:
                msg = self.queue.receive(wait, self.visibility_timeout)
            except Exception as exc:  # noqa: BLE001 - handed to the main thread
                state["error"] = exc
                msg = None
            with lock:
                state["message"] = msg
                state["received_at"] = time.monotonic()
                abandoned = state["abandoned"]
                done.set()
            if abandoned and msg is not None:
                self._give_back(msg)  # we stopped while this poll was open

        thread = threading.Thread(target=run, name="sqs-poll", daemon=True)
        thread.start()
        while not done.wait(STOP_CHECK_SECONDS):
            if stop.is_set():
                with lock:
                    if not done.is_set():
                        state["abandoned"] = True
                        self._abandoned.append(thread)
                        return None, time.monotonic()
                break
        if "error" in state:
            raise state["error"]
        message = state.get("message")
        if message is not None and stop.is_set():
            # The answer and the stop came together: a stopping worker starts no new job.
            self._give_back(message)
            return None, time.monotonic()
        return message, state.get("received_at", time.monotonic())

    def _give_back(self, message: QueueMessage) -> None:
        """Make a message we will not handle visible again at once (never in fast-ack mode)."""
        if not self.return_abandoned:
            return
        try:
            self.queue.change_visibility(message, 0)
        except Exception as exc:  # noqa: BLE001 - SQS down too: its timeout brings it back
            structlog.get_logger().warning(
                "SQS_RETURN_MESSAGE_FAILED", error=f"{type(exc).__name__}: {exc}"
            )
