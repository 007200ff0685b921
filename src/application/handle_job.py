"""The handle-a-job use case: one delivery of a job message, from its body to a settled row.

It parses the message, checks the video belongs to the tenant it names, claims it, runs
`ProcessVideo` under a job ticker (lease renewal, heartbeat, progress), settles the row and
returns an `Outcome`. What then happens to the message (delete, change its visibility, send
a new one) is the queue's business: `apps/worker/video_worker/ack.py` turns the outcome into
those calls, with fast ack on or off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import structlog

from src.application.domain import (
    RETRY_BASE_SECONDS,
    ErrorCode,
    JobStopped,
    Lease,
    StopReason,
    VideoProcessingError,
    fail_outcome,
    retry_delay,
    spends_attempt,
)
from src.application.job_control import JobControl
from src.application.job_ticker import JobTicker
from src.application.messages import JobMessage, MessageRejected, parse_job_message
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
from src.application.ports.queue import QueueMessage
from src.application.ports.video_repository import VideoRepository
from src.application.process_video import ProcessVideo
from src.application.rate_limited_warning import RateLimitedWarning


@dataclass(frozen=True)
class JobContext:
    """One delivery: the message, how it was acknowledged, and what is known so far."""

    message: QueueMessage
    fast_acked: bool
    received_at: float  # monotonic seconds, when the poll returned it
    job: JobMessage | None = None
    rejected: str = ""  # why the body is not a job (job is None then)
    lease: Lease | None = None
    claim_ms: int = 0
    log: Any = field(default=None, repr=False, compare=False)

    @property
    def trace_id(self) -> str:
        return self.message.trace_id

    @property
    def receipt_handle_suffix(self) -> str:
        return self.message.receipt_handle_suffix


class OutcomeKind(enum.StrEnum):
    OK = "ok"  # published: the row is READY
    SKIP = "skip"  # nothing to do: canceled, or another claim owns (or owned) the video
    REJECT = "reject"  # the message names no job we can do
    RETRY = "retry"  # the row is UPLOADED again; the job should come back after a delay
    FAIL = "fail"  # the row is FAILED for good
    STOPPED = "stopped"  # the worker is shutting down: the video was handed back


class SkipReason(enum.StrEnum):
    CLAIMED = "claimed"
    CANCEL = "cancel"  # the contract's result spelling: `skip:cancel`


@dataclass(frozen=True)
class Outcome:
    """What happened to the job; `retry_after` says when its message should come back."""

    kind: OutcomeKind
    reason: str = ""
    retry_after: int | None = None  # seconds; None: the message is done with
    resend: bool = False  # the delivery cannot be hidden any longer: a new message is needed
    status: str = ""  # the row's status, when a skip looked at it
    # A published job's SQS_JOB_COMPLETED fields (hls_key, per-stage `*_ms`): the message's
    # handler logs the line once the message is settled (runbook order, ARCHITECTURE.md).
    completed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, **completed: Any) -> Outcome:
        return cls(OutcomeKind.OK, completed=completed)

    @classmethod
    def skip(cls, reason: SkipReason, status: str = "") -> Outcome:
        return cls(OutcomeKind.SKIP, reason, status=status)

    @classmethod
    def reject(cls, reason: str) -> Outcome:
        return cls(OutcomeKind.REJECT, reason)

    @classmethod
    def retry(cls, after: int | None, *, resend: bool = False) -> Outcome:
        """`after` None: the row could not be handed back (lease lost); the message is done."""
        return cls(OutcomeKind.RETRY, retry_after=after, resend=resend)

    @classmethod
    def fail(cls) -> Outcome:
        return cls(OutcomeKind.FAIL)

    @classmethod
    def stopped(cls, reason: StopReason, *, handed_back: bool) -> Outcome:
        return cls(OutcomeKind.STOPPED, reason, retry_after=0 if handed_back else None)

    @property
    def result(self) -> str:
        """The `result` of the `handler.handle() returned` log line (a contract value)."""
        if self.kind == OutcomeKind.SKIP:
            return f"skip:{self.reason}"
        if self.kind == OutcomeKind.REJECT:
            return "skip:not_found"
        if self.kind == OutcomeKind.STOPPED:
            return "retry"
        return self.kind.value


# Keeps the delivery in flight while the job runs (the SQS visibility extender); given the
# context and the job's stop switch, so it can stop the job when it no longer can.
InFlightGuard = Callable[[JobContext, JobControl], AbstractContextManager[Any]]


def _no_guard(_ctx: JobContext, _control: JobControl) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


class HandleJob:
    def __init__(
        self,
        repository: VideoRepository,
        progress: ProgressPort,
        process: ProcessVideo,
        *,
        worker_id: str,
        lease_seconds: int,
        heartbeat_interval: float,
        retry_base_seconds: int = RETRY_BASE_SECONDS,
        keep_in_flight: InFlightGuard = _no_guard,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository = repository
        self.progress = progress
        self.process = process
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.heartbeat_interval = heartbeat_interval
        self.retry_base_seconds = retry_base_seconds
        self.keep_in_flight = keep_in_flight
        self.clock = clock
        self.redis_warning = RateLimitedWarning("REDIS_UNAVAILABLE", heartbeat_interval, clock)
        self.current: JobControl | None = None
        self._current_lock = threading.Lock()

    # -- called from the signal path -------------------------------------------------------
    def stop_current(self, reason: StopReason = StopReason.SHUTDOWN) -> bool:
        """Ask the running job, if any, to stop; True when this call stopped it."""
        with self._current_lock:
            return self.current.stop(reason) if self.current else False

    # -- the delivery ----------------------------------------------------------------------
    def receive(
        self, message: QueueMessage, *, fast_ack: bool, received_at: float | None = None
    ) -> JobContext:
        """Parse the body (pure, microseconds) and log the receipt with the ids it names."""
        log = structlog.get_logger().bind(
            receipt_handle_suffix=message.receipt_handle_suffix,
            trace_id=message.trace_id,
        )
        try:
            job, rejected = (
                parse_job_message(message.body, message.trace_id),
                "",
            )
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
        return JobContext(
            message=message,
            fast_acked=fast_ack,
            # The poller's clock (the visibility extender measures the 12-hour cap with it).
            received_at=time.monotonic() if received_at is None else received_at,
            job=job,
            rejected=rejected,
            log=log,
        )

    def __call__(self, ctx: JobContext) -> Outcome:
        """Check, claim, run and settle; never raises for the job's own failures."""
        log, job = ctx.log, ctx.job
        if job is None:
            return self._reject(ctx, ctx.rejected)
        row = self.repository.get(job.video_id)
        if row is None:
            return self._reject(ctx, "no such video")
        if row.tenant_id != job.tenant_id:
            return self._reject(ctx, "video does not belong to tenant")
        if row.status == self.repository.canceled_status:
            return Outcome.skip(SkipReason.CANCEL, status=row.status)
        if row.status != self.repository.queued_status:
            # Claimed by another worker, READY, or FAILED (whatever the code): a duplicate.
            log.info("VIDEO_CLAIM_SKIPPED", status=row.status, leased_by=row.leased_by)
            return Outcome.skip(SkipReason.CLAIMED, status=row.status)

        started = self.clock()
        claim = self.repository.claim_video(job.video_id, self.worker_id, self.lease_seconds)
        claim_ms = int((self.clock() - started) * 1000)
        if claim.exhausted:  # this claim used up the attempts: the one failure to report
            log.error(
                "VIDEO_PROCESSING_FAILED",
                error_code=ErrorCode.MAX_ATTEMPTS_EXCEEDED,
                attempts=row.attempts,
            )
            return Outcome.fail()
        if claim.lease is None:  # another worker won the race
            row = self.repository.get(job.video_id)
            status = row.status if row else "missing"
            log.info("VIDEO_CLAIM_SKIPPED", status=status, leased_by=row.leased_by if row else "")
            return Outcome.skip(SkipReason.CLAIMED, status=status)
        lease = claim.lease
        log = log.bind(lease_token=lease.token, attempt=lease.attempt)
        log.info(
            "VIDEO_CLAIMED",
            lease_seconds=self.lease_seconds,
            since_receive_ms=max(0, int((self.clock() - ctx.received_at) * 1000)),
        )
        ctx = dataclasses.replace(ctx, lease=lease, claim_ms=claim_ms, log=log)
        try:
            return self._run(ctx, lease)
        finally:
            self._drop_heartbeat(lease)

    # -- the job ---------------------------------------------------------------------------
    def _run(self, ctx: JobContext, lease: Lease) -> Outcome:
        control = JobControl()
        with self._current_lock:
            self.current = control
        ticker = JobTicker(
            lease,
            self.repository,
            self.progress,
            control,
            lease_seconds=self.lease_seconds,
            interval=self.heartbeat_interval,
            redis_warning=self.redis_warning,
            trace_id=ctx.trace_id,
        )
        started = self.clock()
        try:
            ticker.start()
            with self.keep_in_flight(ctx, control):
                result = self.process(lease, ticker.on_progress, control)
        except JobStopped as exc:
            return self._stopped(ctx, ticker.lease, exc.reason)
        except VideoProcessingError as exc:
            ticker.stop()
            ticker.publish_final("retrying" if exc.retryable else "failed")
            return self._failed(ctx, ticker.lease, exc)
        except Exception as exc:
            ctx.log.exception("VIDEO_JOB_ERROR")
            err = VideoProcessingError(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            return self._failed(ctx, ticker.lease, err)
        finally:
            ticker.stop()
            with self._current_lock:
                self.current = None
        ticker.publish_final("ready", 100.0)
        timings = {"claim": ctx.claim_ms, **result.stage_timings_ms}
        timings["total"] = int((self.clock() - started) * 1000) + ctx.claim_ms
        return Outcome.ok(hls_key=result.hls_key, **{f"{k}_ms": v for k, v in timings.items()})

    def _stopped(self, ctx: JobContext, lease: Lease, reason: StopReason) -> Outcome:
        if reason == StopReason.LEASE_LOST:
            ctx.log.error("VIDEO_LEASE_LOST")
            return Outcome.skip(SkipReason.CLAIMED)
        if reason == StopReason.CANCELED:
            ctx.log.info("VIDEO_CANCELED")
            return Outcome.skip(SkipReason.CANCEL)
        if reason == StopReason.VISIBILITY_CAP:
            err = VideoProcessingError(
                ErrorCode.VISIBILITY_CAP_REACHED, "job outlived SQS's 12-hour visibility limit"
            )
            # This delivery cannot be hidden any longer: a retry needs a fresh message.
            return self._failed(ctx, lease, err, resend=True)
        # Shutdown: hand the video back without counting the attempt, and the message with it.
        released = self._release(ctx, lease, reason, delay=0)
        return Outcome.stopped(reason, handed_back=released)

    def _release(
        self,
        ctx: JobContext,
        lease: Lease,
        reason: str,
        delay: int,
        err: VideoProcessingError | None = None,
    ) -> bool:
        """Back to UPLOADED without counting the attempt: the upload is not to blame."""
        code, text = (err.code, err.message) if err else ("", "")
        released = self.repository.release(lease, code, text)
        ctx.log.warning(
            "VIDEO_RELEASED",
            reason=reason,
            released=released,
            retry_in_seconds=delay,
            **({"error_code": code, "error_message": text[:500]} if err else {}),
        )
        return released

    def _failed(
        self, ctx: JobContext, lease: Lease, err: VideoProcessingError, resend: bool = False
    ) -> Outcome:
        if not spends_attempt(err.code) and not resend:
            # A full disk says nothing about the upload: its attempts are not spent, and
            # the worker stops taking jobs until its work folder has room (the loop's
            # readiness check).
            delay = retry_delay(ctx.message.receive_count, self.retry_base_seconds)
            released = self._release(ctx, lease, "no_space", delay, err)
            return Outcome.retry(delay if released else None)
        if not self.repository.fail(lease, err.code, err.message, err.retryable):
            ctx.log.error("VIDEO_LEASE_LOST", error_code=err.code)
            return Outcome.skip(SkipReason.CLAIMED)
        failure = fail_outcome(
            lease.attempt, self.repository.max_attempts, err.code, err.message, err.retryable
        )
        if failure.will_retry:
            count = max(lease.attempt, ctx.message.receive_count)
            delay = retry_delay(count, self.retry_base_seconds)
            ctx.log.warning(
                "VIDEO_PROCESSING_RETRY",
                error_code=err.code,
                error_message=err.message[:500],
                retry_in_seconds=delay,
            )
            return Outcome.retry(delay, resend=resend)
        ctx.log.error(
            "VIDEO_PROCESSING_FAILED",
            error_code=failure.error_code,
            error_message=err.message[:500],
            retryable=err.retryable,
        )
        return Outcome.fail()

    def _reject(self, ctx: JobContext, reason: str) -> Outcome:
        ctx.log.warning("SQS_MESSAGE_REJECTED", reason=reason, body_preview=ctx.message.body[:200])
        return Outcome.reject(reason)

    def _drop_heartbeat(self, lease: Lease) -> None:
        try:
            self.progress.delete_heartbeat(lease.tenant_id, lease.video_id)
        except TelemetryUnavailable as exc:
            self.redis_warning.warn(error=str(exc), video_id=lease.video_id)
