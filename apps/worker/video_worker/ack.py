"""What happens to an SQS message: the fast ack on receipt, and after the job, its `Outcome`
turned into a delete, a visibility change or a delayed re-send.

| outcome | fast ack off | fast ack on (already deleted) |
|---|---|---|
| ok, skip, reject, fail | delete | nothing |
| retry after N s | visibility set to N s (comes back then) | re-sent with DelaySeconds N |
| retry, delivery past the 12 h cap | re-sent with DelaySeconds N, then deleted | re-sent |
| stopped (shutdown), video handed back | visibility 0 (visible at once) | re-sent at once |
| stopped, hand-back refused | delete | nothing |
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from apps.worker.video_worker.visibility import VisibilityExtender
from src.application.handle_job import JobContext, Outcome
from src.application.job_control import JobControl
from src.application.ports.queue import VideoQueue


class Acknowledger:
    def __init__(self, queue: VideoQueue, *, fast_ack: bool, visibility_timeout: int) -> None:
        self.queue = queue
        self.fast_ack = fast_ack
        self.visibility_timeout = visibility_timeout

    def on_receipt(self, ctx: JobContext) -> None:
        """Fast ack on: delete now, before any I/O; the row carries retries from here."""
        if ctx.fast_acked:
            self.queue.delete(ctx.message)
            ctx.log.info("VIDEO_FAST_ACK_APPLIED")
        else:
            ctx.log.info("VIDEO_FAST_ACK_SKIPPED", reason="VIDEO_FAST_ACK=0")

    def keep_in_flight(self, ctx: JobContext, control: JobControl) -> AbstractContextManager[Any]:
        """While the job runs, keep an unacknowledged message hidden (never in fast-ack mode)."""
        if ctx.fast_acked:
            return nullcontext()
        return VisibilityExtender(
            self.queue, ctx.message, control, self.visibility_timeout, ctx.received_at
        )

    def settle(self, ctx: JobContext, outcome: Outcome) -> None:
        """After the row is settled. A failed delete or visibility change is logged
        (`SQS_ACK_FAILED`), not raised: the row already says what happened, an undeleted
        message comes back after its visibility timeout and its claim skips the video."""
        if outcome.retry_after is not None:
            self._come_back(ctx, outcome.retry_after, resend=outcome.resend)
        elif not ctx.fast_acked:
            self._delete(ctx)

    def _come_back(self, ctx: JobContext, delay: int, *, resend: bool) -> None:
        """Make the job's message visible again after `delay`: the same one, or a new one."""
        if not ctx.fast_acked and not resend:
            # The same delivery: hidden for `delay` more seconds (SQS allows up to 12 h).
            self._ack(
                ctx, "change_visibility", lambda: self.queue.change_visibility(ctx.message, delay)
            )
            return
        assert ctx.job is not None  # only a parsed job is retried
        self.queue.send(
            ctx.job.video_id,
            ctx.job.tenant_id,
            ctx.job.request_id,
            trace_id=ctx.trace_id or None,
            delay_seconds=delay,
        )
        if not ctx.fast_acked:
            self._delete(ctx)

    def _delete(self, ctx: JobContext) -> None:
        if self._ack(ctx, "delete", lambda: self.queue.delete(ctx.message)):
            ctx.log.info(
                "SQS_MESSAGE_DELETED", receipt_handle_suffix=ctx.message.receipt_handle_suffix
            )

    @staticmethod
    def _ack(ctx: JobContext, action: str, call: Callable[[], None]) -> bool:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - SQS down or the receipt expired
            ctx.log.warning(
                "SQS_ACK_FAILED", action=action, error=f"{type(exc).__name__}: {exc}"[:500]
            )
            return False
        return True
