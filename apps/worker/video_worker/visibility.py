"""Keeps an in-flight SQS message invisible while its job runs (fast ack off only)."""

from __future__ import annotations

import threading
import time

import structlog

from src.application.domain import StopReason
from src.application.job_control import JobControl
from src.application.ports.queue import QueueMessage, VideoQueue
from src.infrastructure import metrics

# SQS refuses to keep a message invisible longer than 12 hours after its receipt.
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600


class VisibilityExtender:
    """Extends every `timeout/3` s (two spare ticks before expiry); fails closed at the cap."""

    def __init__(
        self,
        queue: VideoQueue,
        message: QueueMessage,
        control: JobControl,
        timeout: int,
        received_at: float | None = None,
        cap_seconds: int = SQS_MAX_VISIBILITY_SECONDS,
    ) -> None:
        self.queue = queue
        self.message = message
        self.control = control
        self.timeout = timeout
        self.received_at = received_at if received_at is not None else time.monotonic()
        self.cap_seconds = cap_seconds
        self.period = max(timeout / 3.0, 0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-visibility", daemon=True)
        self.log = structlog.get_logger().bind(trace_id=message.trace_id)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> VisibilityExtender:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            elapsed = time.monotonic() - self.received_at
            # The next extension would end past the cap: stop the job now and release it,
            # rather than let SQS hand the message to another worker mid-encode.
            if elapsed + self.period + self.timeout > self.cap_seconds:
                self.log.warning(
                    "SQS_VISIBILITY_CAP_REACHED",
                    elapsed_seconds=round(elapsed, 1),
                    cap_seconds=self.cap_seconds,
                    receipt_handle_suffix=self.message.receipt_handle_suffix,
                )
                self.control.stop(StopReason.VISIBILITY_CAP)
                return
            try:
                self.queue.change_visibility(self.message, self.timeout)
                metrics.VISIBILITY_EXTENSIONS.labels("ok").inc()
            except Exception as exc:  # noqa: BLE001 - keep trying; SQS may be briefly down
                metrics.VISIBILITY_EXTENSIONS.labels("failed").inc()
                self.log.warning(
                    "SQS_VISIBILITY_EXTEND_FAILED", error=f"{type(exc).__name__}: {exc}"
                )
