"""Delivering webhooks: claim due deliveries, send them, and settle each on the retry policy.

At least once: a dispatcher that dies after sending but before settling leaves the claim to
expire, and the delivery is sent again with the same webhook-id, which receivers dedupe on.
Two dispatchers never hold one delivery at once (the store's claim).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from src.application.domain.webhooks import (
    AttemptResult,
    DeliveryStatus,
    classify,
    next_attempt,
    parse_retry_after,
)
from src.application.ports.webhooks import (
    AttemptOutcome,
    DueDelivery,
    Settlement,
    WebhookStore,
    WebhookTransport,
)

log = structlog.get_logger("academy.webhooks")

# A claim outlives one attempt (which the transport ends at its timeout, a hard deadline) by
# this much, so it only expires when its dispatcher is gone: no second dispatcher re-sends a
# delivery whose attempt is still running.
LOCK_MARGIN_SECONDS = 30


@dataclass
class DispatchReport:
    claimed: int = 0
    results: dict[str, int] = field(default_factory=dict)

    def count(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1


def settlement_for(
    delivery: DueDelivery,
    outcome: AttemptOutcome,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> tuple[str, Settlement]:
    """The policy: 2xx delivered; 410 disables the endpoint; anything else is retried on the
    schedule (Retry-After honoured) until it is used up, which flags the endpoint."""
    result = AttemptResult.REFUSED if outcome.refused else classify(outcome.status_code)
    if result == AttemptResult.DELIVERED:
        return result, Settlement(DeliveryStatus.DELIVERED, now)
    if result == AttemptResult.GONE:
        reason = f"the endpoint answered 410 Gone at {now.isoformat(timespec='seconds')}"
        return result, Settlement(DeliveryStatus.FAILED, now, disable_endpoint=reason)
    step = next_attempt(delivery.attempt, now, parse_retry_after(outcome.retry_after, now), rand)
    if step.gives_up:
        return "failed", Settlement(DeliveryStatus.FAILED, now, flag_endpoint=True)
    return result, Settlement(DeliveryStatus.PENDING, now, next_attempt_at=step.retry_at)


class WebhookDispatcher:
    def __init__(
        self,
        store: WebhookStore,
        transport: WebhookTransport,
        *,
        dispatcher_id: str,
        timeout_seconds: float,
        concurrency: int = 8,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.transport = transport
        self.dispatcher_id = dispatcher_id
        self.lock_seconds = timeout_seconds + LOCK_MARGIN_SECONDS
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self.rand = rand

    def run_once(self) -> DispatchReport:
        """One batch: claim up to `concurrency` due deliveries, send them in parallel, settle."""
        report = DispatchReport()
        due = self.store.claim_due(
            self.clock(), self.concurrency, self.lock_seconds, self.dispatcher_id
        )
        report.claimed = len(due)
        if not due:
            return report
        with ThreadPoolExecutor(max_workers=len(due), thread_name_prefix="webhook") as pool:
            outcomes = list(pool.map(self._send, due))
        for delivery, outcome in zip(due, outcomes, strict=True):
            report.count(self._settle(delivery, outcome))
        return report

    def drain(
        self, max_batches: int = 1000, stopping: Callable[[], bool] = lambda: False
    ) -> DispatchReport:
        """Batches until nothing is due (bounded, so a flood cannot hold the loop forever).
        `stopping` is asked before each batch: a stop requested mid-pass ends the pass after
        the batch in flight (its sends are settled), not after the whole backlog."""
        total = DispatchReport()
        for _ in range(max_batches):
            if stopping():
                break
            report = self.run_once()
            total.claimed += report.claimed
            for name, n in report.results.items():
                total.results[name] = total.results.get(name, 0) + n
            if report.claimed < self.concurrency:
                break
        return total

    def backlog(self) -> int:
        """Deliveries due now, claimed by no live dispatcher (what a pass would find)."""
        return self.store.count_due(self.clock())

    def _send(self, delivery: DueDelivery) -> AttemptOutcome:
        try:
            return self.transport.send(
                delivery.url, delivery.message_id, delivery.secret, delivery.body
            )
        except Exception as exc:  # noqa: BLE001 - a transport bug is one failed attempt
            return AttemptOutcome(error=f"{type(exc).__name__}: {exc}"[:500])

    def _settle(self, delivery: DueDelivery, outcome: AttemptOutcome) -> str:
        result, settlement = settlement_for(delivery, outcome, self.clock(), self.rand)
        kept = self.store.settle(delivery, outcome, settlement)
        fields = {
            "delivery_id": delivery.delivery_id,
            "endpoint_id": delivery.endpoint_id,
            "webhook_id": delivery.message_id,
            "event_type": delivery.event_type,
            "video_id": delivery.video_id,
            "tenant_id": delivery.tenant_id,
            "attempt": delivery.attempt,
            "status_code": outcome.status_code,
            "result": str(result),
            "duration_ms": outcome.duration_ms,
        }
        if not kept:
            log.warning("WEBHOOK_CLAIM_LOST", **fields)
            return "claim_lost"
        if settlement.status == DeliveryStatus.DELIVERED:
            log.info("WEBHOOK_DELIVERED", **fields)
        else:
            log.warning(
                "WEBHOOK_ATTEMPT_FAILED",
                **fields,
                error=outcome.error,
                next_attempt_at=settlement.next_attempt_at.isoformat()
                if settlement.next_attempt_at
                else None,
                endpoint_disabled=bool(settlement.disable_endpoint),
            )
        return str(result)
