"""The receive loop: one message at a time, errors never kill it, signals stop it gracefully."""

from __future__ import annotations

import math
import threading
import time

import structlog

from academy.cli import StopSignals
from apps.worker.video_worker.handler import MessageHandler
from apps.worker.video_worker.poller import InterruptiblePoller
from apps.worker.video_worker.readiness import Hold, ReadinessCheck
from src.application.domain import StopReason, retry_delay
from src.application.ports.queue import VideoQueue
from src.infrastructure.liveness import LivenessFile
from src.infrastructure.queue.sqs_queue import LONG_POLL_SECONDS

# WORKER_HEARTBEAT cadence: once a minute is enough for an operator tailing logs.
WORKER_HEARTBEAT_SECONDS = 60
# How quickly a received signal is acted on.
SIGNAL_WATCH_SECONDS = 0.05
# Backoff after a failed receive (SQS down): 1 s doubling to 30 s.
ERROR_BACKOFF_FIRST = 1.0
ERROR_BACKOFF_MAX = 30.0
# While a readiness check fails (queue missing, work folder full, database down), it is
# looked at again this often.
HOLD_RECHECK_SECONDS = 2.0
# The liveness file (the image's HEALTHCHECK) is written at each turn of the loop and, while a
# job runs, this often; a turn takes at most a long poll (20 s) or an error backoff (30 s)
# plus SQS's timeouts, so a file older than WORKER_LIVENESS_MAX_AGE means a stuck loop.
LIVENESS_BUSY_SECONDS = 10.0
WORKER_LIVENESS_MAX_AGE = 120.0


class WorkerLoop:
    def __init__(
        self,
        queue: VideoQueue,
        handler: MessageHandler,
        *,
        worker_id: str,
        visibility_timeout: int,
        grace_seconds: float,
        max_messages: int | None = None,
        exit_when_idle: float | None = None,
        wait_seconds: int = LONG_POLL_SECONDS,
        heartbeat_seconds: float = WORKER_HEARTBEAT_SECONDS,
        readiness: list[ReadinessCheck] | None = None,
        hold_recheck_seconds: float = HOLD_RECHECK_SECONDS,
        liveness: LivenessFile | None = None,
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.worker_id = worker_id
        self.grace_seconds = grace_seconds
        self.max_messages = max_messages
        self.exit_when_idle = exit_when_idle
        self.poller = InterruptiblePoller(
            queue, wait_seconds, visibility_timeout, return_abandoned=not handler.fast_ack
        )
        self.heartbeat_seconds = heartbeat_seconds
        self.readiness = list(readiness or [])
        self.hold_recheck_seconds = hold_recheck_seconds
        self._holds: dict[str, Hold] = {}
        self.liveness = liveness or LivenessFile("", WORKER_LIVENESS_MAX_AGE)
        self.stopping = threading.Event()
        self._signals = StopSignals()
        self._done = threading.Event()
        self.force_exit = threading.Event()
        self.iterations = 0
        self.handled = 0
        self.errors = 0
        self.results: dict[str, int] = {}
        self._grace_timer: threading.Timer | None = None
        self.log = structlog.get_logger()

    # -- signals ------------------------------------------------------------------------
    # The handlers only record the signal (academy.cli.StopSignals): the main thread may hold
    # a lock (logging, Event, Thread.start) right now. The watcher thread acts on it: the
    # loop blocks in a long poll or a job, so it cannot look at a flag itself.
    def install_signal_handlers(self) -> None:
        self._signals.install()

    def restore_signal_handlers(self) -> None:
        self._signals.restore()

    def _watch_signals(self) -> None:
        seen = 0
        while True:
            received = self._signals.received
            if len(received) > seen:
                seen += 1
                self.request_stop(received[seen - 1])
            if self._done.wait(SIGNAL_WATCH_SECONDS):
                return

    def request_stop(self, reason: str = "requested") -> None:
        """Stop receiving now; the running job gets the grace period, then is stopped."""
        if self.stopping.is_set():
            self.force_exit.set()  # a second signal: do not wait for the open long poll
            return
        self.stopping.set()
        self.log.info("WORKER_STOPPING", reason=reason, grace_seconds=self.grace_seconds)
        self._grace_timer = threading.Timer(
            self.grace_seconds, self.handler.stop_current, args=(StopReason.SHUTDOWN,)
        )
        self._grace_timer.daemon = True
        self._grace_timer.start()

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> int:
        started = time.monotonic()
        last_message = started
        backoff = ERROR_BACKOFF_FIRST
        ticker = threading.Thread(target=self._heartbeat_log, name="worker-heartbeat", daemon=True)
        ticker.start()
        watcher = threading.Thread(target=self._watch_signals, name="signal-watch", daemon=True)
        watcher.start()
        # A job holds the main thread for as long as it runs (its lease, stall watchdog and
        # grace bound it): meanwhile this thread keeps the liveness file fresh.
        busy = threading.Thread(target=self._beat_while_busy, name="worker-liveness", daemon=True)
        busy.start()
        try:
            while not self.stopping.is_set():
                self.liveness.beat()
                if self.max_messages is not None and self.handled >= self.max_messages:
                    break
                wait = None
                if self.exit_when_idle is not None:
                    left = self.exit_when_idle - (time.monotonic() - last_message)
                    if left <= 0:
                        self.log.info("WORKER_IDLE_EXIT", idle_seconds=self.exit_when_idle)
                        break
                    wait = max(1, math.ceil(left))
                self.iterations += 1
                if self._on_hold():
                    self.stopping.wait(self.hold_recheck_seconds)
                    continue
                message = None
                try:
                    message, received_at = self.poller.poll(self.stopping, wait)
                    if message is None:
                        continue
                    result = self.handler.handle(message, received_at)
                    self.handled += 1
                    self.results[result] = self.results.get(result, 0) + 1
                    backoff = ERROR_BACKOFF_FIRST
                except Exception as exc:  # noqa: BLE001 - the per-message boundary
                    backoff = self._on_error(exc, message, backoff)
                finally:
                    if message is not None:
                        last_message = time.monotonic()
        finally:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            drained = self.poller.drain(LONG_POLL_SECONDS + 5, self.force_exit)
            self._done.set()
            self.log.info(
                "WORKER_SHUTDOWN",
                open_polls_drained=drained,
                handled=self.handled,
                errors=self.errors,
                iterations=self.iterations,
                results=self.results,
                uptime_seconds=round(time.monotonic() - started, 1),
            )
        return 0

    def _on_hold(self) -> bool:
        """Whether a readiness check fails; logs once when one starts and when it ends."""
        for check in self.readiness:
            hold = check.hold()
            if hold is not None and check.name not in self._holds:
                self.log.warning(hold.event, check=check.name, receiving=False, **hold.fields)
            elif hold is None and check.name in self._holds:
                self.log.info("WORKER_RESUMED", check=check.name, receiving=True)
            if hold is None:
                self._holds.pop(check.name, None)
            else:
                self._holds[check.name] = hold
        return bool(self._holds)

    def _on_error(self, exc: Exception, message, backoff: float) -> float:
        """Log an error outside a job, and decide who waits (returns the next SQS backoff).

        - The receive failed (SQS unreachable): the worker waits, 1 s doubling to 30 s.
        - The database failed: the worker stops receiving until a check of the database
          succeeds (readiness), so an outage spends no message's receive count.
        - Anything else came with one message: that message comes back later (its
          visibility, by its receive count); the next message is handled at once.
        """
        self.errors += 1
        # A database outage: the repository drops its broken connections as it answers.
        db = self.handler.recover_from(exc)
        if message is None:
            worker_waits, message_waits = backoff, 0
            for check in self.readiness:
                check.suspect()  # the queue may be gone: look before the next receive
        elif db:
            worker_waits, message_waits = 0.0, int(self.hold_recheck_seconds) + 1
            for check in self.readiness:
                check.suspect()
        else:
            worker_waits, message_waits = 0.0, retry_delay(message.receive_count)
        self.log.error(
            "WORKER_LOOP_ERROR",
            error=f"{type(exc).__name__}: {exc}"[:500],
            database_error=db,
            retry_in_seconds=worker_waits,
            message_retry_in_seconds=message_waits,
            receipt_handle_suffix=message.receipt_handle_suffix if message else "",
            exc_info=not db,
        )
        if message is not None and not self.handler.fast_ack:
            # Not acknowledged: let it come back after its wait, not a whole visibility timeout.
            try:
                self.queue.change_visibility(message, message_waits)
            except Exception:  # noqa: BLE001, S110 - SQS down too; the timeout brings it back
                pass
        if message is not None:
            return backoff
        self.stopping.wait(worker_waits)
        return min(backoff * 2, ERROR_BACKOFF_MAX)

    def _beat_while_busy(self) -> None:
        while not self._done.wait(LIVENESS_BUSY_SECONDS):
            if self.handler.busy:
                self.liveness.beat()

    def _heartbeat_log(self) -> None:
        while not self._done.wait(self.heartbeat_seconds):
            self.log.info(
                "WORKER_HEARTBEAT",
                iterations=self.iterations,
                handled=self.handled,
                errors=self.errors,
                busy=self.handler.busy,
                on_hold=sorted(self._holds),
            )
