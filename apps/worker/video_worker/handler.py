"""One SQS message, start to finish: acknowledge, claim, run, and settle the row and the message."""

from __future__ import annotations

import threading
import time

import structlog

from academy.config import AppConfig
from apps.worker.video_worker.job_ticker import JobTicker
from apps.worker.video_worker.rate_limited import RateLimitedWarning
from apps.worker.video_worker.visibility import VisibilityExtender
from src.application.domain import (
    RETRY_BASE_SECONDS,
    ErrorCode,
    JobStopped,
    Lease,
    StopReason,
    VideoProcessingError,
    VideoStatus,
    fail_outcome,
    retry_delay,
    spends_attempt,
)
from src.application.job_control import JobControl
from src.application.messages import MessageRejected, parse_job_message
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
from src.application.ports.queue import QueueMessage, VideoQueue
from src.application.ports.video_repository import VideoRepository
from src.application.process_video import ProcessVideo


class VideoMessageHandler:
    def __init__(
        self,
        config: AppConfig,
        repository: VideoRepository,
        queue: VideoQueue,
        progress: ProgressPort,
        process: ProcessVideo,
        *,
        retry_base_seconds: int = RETRY_BASE_SECONDS,
    ) -> None:
        self.config = config
        self.repository = repository
        self.queue = queue
        self.progress = progress
        self.process = process
        self.retry_base_seconds = retry_base_seconds
        self.redis_warning = RateLimitedWarning("REDIS_UNAVAILABLE", config.heartbeat_interval)
        self.current: JobControl | None = None
        self._current_lock = threading.Lock()

    # -- called from the signal path -------------------------------------------------------
    def stop_current(self, reason: StopReason = StopReason.SHUTDOWN) -> bool:
        with self._current_lock:
            return self.current.stop(reason) if self.current else False

    # -- the message --------------------------------------------------------------------
    def handle(self, message: QueueMessage, received_at: float | None = None) -> str:
        # Every line this thread logs for the job (process, storage, warnings) carries the
        # trace id the producer sent: one grep follows an upload from the API to here.
        with structlog.contextvars.bound_contextvars(trace_id=message.trace_id):
            return self._handle(message, received_at)

    def _handle(self, message: QueueMessage, received_at: float | None = None) -> str:
        received_at = received_at if received_at is not None else time.monotonic()
        log = structlog.get_logger().bind(
            receipt_handle_suffix=message.receipt_handle_suffix,
            trace_id=message.trace_id,
        )
        # Parsing is pure and takes microseconds, so the receipt log line can carry the ids
        # and the fast ack still happens right after receipt, before any I/O.
        try:
            job = parse_job_message(message.body, message.trace_id)
            rejected = ""
        except MessageRejected as exc:
            job, rejected = None, str(exc)
        if job is not None:
            log = log.bind(
                request_id=job.request_id, video_id=job.video_id, tenant_id=job.tenant_id
            )
        log.info(
            "SQS_MESSAGE_RECEIVED",
            message_id=message.message_id,
            receive_count=message.receive_count,
        )
        fast_acked = False
        if self.config.fast_ack:
            self.queue.delete(message)
            fast_acked = True
            log.info("VIDEO_FAST_ACK_APPLIED")
        else:
            log.info("VIDEO_FAST_ACK_SKIPPED", reason="VIDEO_FAST_ACK=0")
        if job is None:
            return self._reject(log, message, fast_acked, rejected)

        row = self.repository.get(job.video_id)
        if row is None:
            return self._reject(log, message, fast_acked, "no such video")
        if row.tenant_id != job.tenant_id:
            return self._reject(log, message, fast_acked, "video does not belong to tenant")
        if row.status == VideoStatus.CANCELED:
            return self._settled(log, message, fast_acked, "skip:cancel", status=row.status)

        t = time.monotonic()
        lease = None
        if row.status == VideoStatus.UPLOADED:  # any other status: the claim cannot win
            lease = self.repository.try_claim_video(
                job.video_id, self.config.worker_id, self.config.lease_seconds
            )
        claim_ms = int((time.monotonic() - t) * 1000)
        if lease is None:
            if row.status == VideoStatus.UPLOADED:  # lost the race, or attempts ran out
                row = self.repository.get(job.video_id)
            status = row.status if row else "missing"
            if row is not None and row.status == VideoStatus.FAILED:
                if row.error_code == ErrorCode.MAX_ATTEMPTS_EXCEEDED:
                    log.error(
                        "VIDEO_PROCESSING_FAILED", error_code=row.error_code, attempts=row.attempts
                    )
                    return self._settled(log, message, fast_acked, "fail", status=status)
            log.info("VIDEO_CLAIM_SKIPPED", status=status, leased_by=row.leased_by if row else "")
            return self._settled(log, message, fast_acked, "skip:claimed", status=status)
        log = log.bind(lease_token=lease.token, attempt=lease.attempt)
        log.info("VIDEO_CLAIMED", lease_seconds=self.config.lease_seconds)
        return self._run(log, message, fast_acked, lease, job.request_id, received_at, claim_ms)

    # -- the job ------------------------------------------------------------------------
    def _run(self, log, message, fast_acked, lease: Lease, request_id, received_at, claim_ms):
        try:
            return self._run_job(log, message, fast_acked, lease, request_id, received_at, claim_ms)
        finally:
            self._drop_heartbeat(lease)

    def _run_job(self, log, message, fast_acked, lease: Lease, request_id, received_at, claim_ms):
        control = JobControl()
        with self._current_lock:
            self.current = control
        ticker = JobTicker(
            lease,
            self.repository,
            self.progress,
            control,
            lease_seconds=self.config.lease_seconds,
            interval=self.config.heartbeat_interval,
            redis_warning=self.redis_warning,
            trace_id=message.trace_id,
        )
        extender = None
        if not fast_acked:
            extender = VisibilityExtender(
                self.queue, message, control, self.config.visibility_timeout, received_at
            )
        started = time.monotonic()
        try:
            ticker.start()
            if extender:
                extender.start()
            outcome = self.process(lease, ticker.on_progress, control)
        except JobStopped as exc:
            return self._stopped(log, message, fast_acked, ticker.lease, exc.reason, request_id)
        except VideoProcessingError as exc:
            ticker.stop()
            ticker.publish_final("failed" if not exc.retryable else "retrying")
            return self._failed(log, message, fast_acked, ticker.lease, exc, request_id)
        except Exception as exc:
            log.exception("VIDEO_JOB_ERROR")
            err = VideoProcessingError(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            return self._failed(log, message, fast_acked, ticker.lease, err, request_id)
        finally:
            ticker.stop()
            if extender:
                extender.stop()
            with self._current_lock:
                self.current = None
        ticker.publish_final("ready", 100.0)
        timings = {"claim": claim_ms, **outcome.stage_timings_ms}
        timings["total"] = int((time.monotonic() - started) * 1000) + claim_ms
        # The row is READY: that is the completion, whatever happens to the message next.
        log.info(
            "SQS_JOB_COMPLETED",
            hls_key=outcome.hls_key,
            **{f"{k}_ms": v for k, v in timings.items()},
        )
        if not fast_acked:
            self._ack(log, "delete", lambda: self.queue.delete(message))
        return self._result(log, "ok")

    def _stopped(self, log, message, fast_acked, lease, reason, request_id) -> str:
        if reason == StopReason.LEASE_LOST:
            log.error("VIDEO_LEASE_LOST")
            return self._settled(log, message, fast_acked, "skip:claimed")
        if reason == StopReason.CANCELED:
            log.info("VIDEO_CANCELED")
            return self._settled(log, message, fast_acked, "skip:cancel")
        if reason == StopReason.VISIBILITY_CAP:
            err = VideoProcessingError(
                ErrorCode.VISIBILITY_CAP_REACHED,
                "job outlived SQS's 12-hour visibility limit",
            )
            # This receipt cannot be hidden any longer: a retry needs a fresh message.
            return self._failed(log, message, fast_acked, lease, err, request_id, resend=True)
        # Shutdown: hand the video back without counting the attempt, and the message with it.
        return self._release(log, message, fast_acked, lease, request_id, reason, delay=0)

    def _release(self, log, message, fast_acked, lease, request_id, reason, delay, err=None) -> str:
        """Back to UPLOADED without counting the attempt: the upload is not to blame."""
        code, text = (err.code, err.message) if err else ("", "")
        released = self.repository.release(lease, code, text)
        log.warning(
            "VIDEO_RELEASED",
            reason=reason,
            released=released,
            retry_in_seconds=delay,
            **({"error_code": code, "error_message": text[:500]} if err else {}),
        )
        if released:
            self._requeue(log, message, fast_acked, lease, request_id, delay=delay)
        elif not fast_acked:
            self._ack(log, "delete", lambda: self.queue.delete(message))
        return self._result(log, "retry")

    def _failed(
        self, log, message, fast_acked, lease, err: VideoProcessingError, request_id, resend=False
    ):
        if not spends_attempt(err.code) and not resend:
            # A full disk says nothing about the upload: its attempts are not spent, and
            # the worker stops taking jobs until its work folder has room (loop.py).
            delay = retry_delay(message.receive_count, self.retry_base_seconds)
            return self._release(
                log, message, fast_acked, lease, request_id, "no_space", delay, err
            )
        took = self.repository.fail(lease, err.code, err.message, err.retryable)
        if not took:
            log.error("VIDEO_LEASE_LOST", error_code=err.code)
            return self._settled(log, message, fast_acked, "skip:claimed")
        failure = fail_outcome(
            lease.attempt, self.repository.max_attempts, err.code, err.message, err.retryable
        )
        if failure.will_retry:
            delay = retry_delay(max(lease.attempt, message.receive_count), self.retry_base_seconds)
            log.warning(
                "VIDEO_PROCESSING_RETRY",
                error_code=err.code,
                error_message=err.message[:500],
                retry_in_seconds=delay,
            )
            self._requeue(log, message, fast_acked, lease, request_id, delay=delay, resend=resend)
            return self._result(log, "retry")
        log.error(
            "VIDEO_PROCESSING_FAILED",
            error_code=failure.error_code,
            error_message=err.message[:500],
            retryable=err.retryable,
        )
        if not fast_acked:
            self._ack(log, "delete", lambda: self.queue.delete(message))
        return self._result(log, "fail")

    def _requeue(
        self, log, message, fast_acked, lease: Lease, request_id, delay: int, resend=False
    ) -> None:
        """Make the video's message come back after `delay`: same message, or a new one."""
        if not fast_acked and not resend:
            # ChangeMessageVisibility keyed on the receive count (SQS allows up to 12 h).
            self._ack(
                log, "change_visibility", lambda: self.queue.change_visibility(message, delay)
            )
            return
        self.queue.send(
            lease.video_id,
            lease.tenant_id,
            request_id,
            trace_id=message.trace_id or None,
            delay_seconds=delay,
        )
        if not fast_acked:
            self._ack(log, "delete", lambda: self.queue.delete(message))

    @staticmethod
    def _ack(log, action: str, call) -> None:
        """Settle the message after the row is settled; a failure here is logged, not raised.

        The row already says what happened. An undeleted message comes back after its
        visibility timeout and its claim skips the video; one whose visibility could not be
        changed comes back after the timeout instead of the backoff.
        """
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - SQS down or the receipt expired
            log.warning("SQS_ACK_FAILED", action=action, error=f"{type(exc).__name__}: {exc}"[:500])

    def _drop_heartbeat(self, lease: Lease) -> None:
        try:
            self.progress.delete_heartbeat(lease.tenant_id, lease.video_id)
        except TelemetryUnavailable as exc:
            self.redis_warning.warn(error=str(exc), video_id=lease.video_id)

    # -- settling -----------------------------------------------------------------------
    def _reject(self, log, message, fast_acked, reason: str) -> str:
        log.warning("SQS_MESSAGE_REJECTED", reason=reason, body_preview=message.body[:200])
        return self._settled(log, message, fast_acked, "skip:not_found")

    def _settled(self, log, message, fast_acked, result: str, **fields) -> str:
        if not fast_acked:
            self._ack(log, "delete", lambda: self.queue.delete(message))
        return self._result(log, result, **fields)

    @staticmethod
    def _result(log, result: str, **fields) -> str:
        log.info("handler.handle() returned", result=result, **fields)
        return result
