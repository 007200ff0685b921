"""The job ticker: one thread, independent of ffmpeg's output, that renews the lease,
refreshes the Redis heartbeat and publishes the latest progress."""

from __future__ import annotations

import threading
import time

import structlog

from src.application.domain import Lease, StopReason
from src.application.job_control import JobControl
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
from src.application.ports.video_repository import VideoRepository
from src.application.rate_limited_warning import RateLimitedWarning

# Progress is published at most this often: enough for a live bar, cheap for Redis.
PROGRESS_PERIOD_SECONDS = 1.0


class JobTicker:
    def __init__(
        self,
        lease: Lease,
        repository: VideoRepository,
        progress: ProgressPort,
        control: JobControl,
        *,
        lease_seconds: int,
        interval: float,
        redis_warning: RateLimitedWarning,
        progress_period: float = PROGRESS_PERIOD_SECONDS,
        trace_id: str = "",
    ) -> None:
        self.lease = lease
        self.repository = repository
        self.progress = progress
        self.control = control
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.progress_period = min(progress_period, interval)
        self.redis_warning = redis_warning
        self._latest: tuple[float, str] | None = None
        self._published: tuple[float, str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-ticker", daemon=True)
        self.trace_id = trace_id  # in the progress value and every line of this thread
        self.log = structlog.get_logger().bind(
            video_id=lease.video_id, tenant_id=lease.tenant_id, trace_id=trace_id
        )

    def on_progress(self, percent: float, step: str) -> None:
        """Called from the transcoder's thread: only remembers the value (never blocks it)."""
        self._latest = (percent, step)

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def publish_final(self, step: str, percent: float | None = None) -> None:
        """After stop(): write the job's last progress record (ready, failed, retry)."""
        last = self._latest[0] if self._latest else 0.0
        self._latest = (last if percent is None else percent, step)
        self._publish_progress(final=True)

    def _run(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self._stop.wait(self.progress_period):
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.interval
                    if not self._renew():
                        return
                    self._beat()
                self._publish_progress()
            except Exception as exc:  # noqa: BLE001 - the ticker must outlive any error
                self.log.warning("job_ticker_error", error=f"{type(exc).__name__}: {exc}")

    def _renew(self) -> bool:
        """Renew the lease; on rejection stop the job at once (lease lost or canceled)."""
        try:
            renewed = self.repository.renew_lease(self.lease, self.lease_seconds)
        except Exception as exc:  # noqa: BLE001 - database down: keep trying, writes stay fenced
            self.log.warning("VIDEO_LEASE_RENEW_FAILED", error=f"{type(exc).__name__}: {exc}")
            return True
        if renewed is not None:
            self.lease = renewed
            # One line per renewal (every VIDEO_HEARTBEAT_TTL/3): the renewals metric counts it.
            self.log.info(
                "VIDEO_LEASE_RENEWED",
                lease_token=renewed.token,
                expires_at=renewed.expires_at.isoformat(),
            )
            return True
        reason = StopReason.LEASE_LOST
        try:
            row = self.repository.get(self.lease.video_id)
            if row is not None and row.status == self.repository.canceled_status:
                reason = StopReason.CANCELED
        except Exception:  # noqa: BLE001, S110 - unknown state: treat as lost, the safe side
            pass
        self.control.stop(reason)
        return False

    def _beat(self) -> None:
        try:
            self.progress.set_heartbeat(
                self.lease.tenant_id, self.lease.video_id, self.lease.worker_id
            )
        except TelemetryUnavailable as exc:
            self.redis_warning.warn(error=str(exc), video_id=self.lease.video_id)

    def _publish_progress(self, final: bool = False) -> None:
        latest = self._latest
        if (
            latest is None
            or latest == self._published
            or (self.control.should_stop() and not final)
        ):
            return
        try:
            self.progress.record_progress(
                self.lease.tenant_id,
                self.lease.video_id,
                latest[0],
                latest[1],
                self.lease.worker_id,
                trace_id=self.trace_id,
            )
            self._published = latest
        except TelemetryUnavailable as exc:
            self.redis_warning.warn(error=str(exc), video_id=self.lease.video_id)
