"""One SQS message: hand it to the handle-job use case and settle the message as it says.

No decision about the video is made here (src/application/handle_job.py makes them); this
module only orders the steps: receipt log, fast ack, the job, the acknowledgement.
"""

from __future__ import annotations

import structlog

from apps.worker.video_worker.ack import Acknowledger
from src.application.domain import StopReason
from src.application.handle_job import HandleJob, OutcomeKind
from src.application.ports.queue import QueueMessage
from src.infrastructure import metrics


class MessageHandler:
    def __init__(self, handle_job: HandleJob, ack: Acknowledger) -> None:
        self.handle_job = handle_job
        self.ack = ack

    @property
    def fast_ack(self) -> bool:
        return self.ack.fast_ack

    @property
    def busy(self) -> bool:
        return self.handle_job.current is not None

    def stop_current(self, reason: StopReason = StopReason.SHUTDOWN) -> bool:
        return self.handle_job.stop_current(reason)

    def recover_from(self, exc: BaseException) -> bool:
        """Whether `exc` was the database failing (its broken connections are then dropped)."""
        return self.handle_job.repository.recover_from(exc)

    def handle(self, message: QueueMessage, received_at: float | None = None) -> str:
        # Every line this thread logs for the job (process, storage, warnings) carries the
        # trace id the producer sent: one grep follows an upload from the API to here.
        with structlog.contextvars.bound_contextvars(trace_id=message.trace_id):
            return self._handle(message, received_at)

    def _handle(self, message: QueueMessage, received_at: float | None) -> str:
        ctx = self.handle_job.receive(message, fast_ack=self.ack.fast_ack, received_at=received_at)
        self.ack.on_receipt(ctx)
        with metrics.JOBS_IN_PROGRESS.track_inprogress():
            outcome = self.handle_job(ctx)
        # The runbook's order: what the job came to, then the message's fate (deleted, with its
        # own SQS_MESSAGE_DELETED line, or SQS_ACK_FAILED), then SQS_JOB_COMPLETED.
        fields = {"status": outcome.status} if outcome.status else {}
        ctx.log.info("handler.handle() returned", result=outcome.result, **fields)
        self.ack.settle(ctx, outcome)
        if outcome.kind == OutcomeKind.OK:
            ctx.log.info("SQS_JOB_COMPLETED", **outcome.completed)
        return outcome.result
