"""Delivery against a real receiver on loopback: signatures checked with the library's own
verifier; retries on the injected clock (never a sleep for the schedule)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from apps.support.webhooks.models import WebhookAttempt
from src.application.domain.webhooks import MAX_ATTEMPTS, DeliveryStatus
from src.infrastructure.webhooks.http_transport import UrllibWebhookTransport
from tests.integration.webhooks.conftest import READY_ONLY, Hooks, endpoint_row
from tests.webhook_receiver import Reply, WebhookReceiver, body_of


def test_ready_video_is_delivered_signed_with_the_video_object(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver)
    video_id = hooks.ready_video()
    report = hooks.dispatcher().drain()
    assert report.results == {"delivered": 2}
    got = receiver.wait_for(2)
    assert all(r.verified for r in got)
    types = [body_of(r)["type"] for r in got]
    assert sorted(types) == ["video.processing", "video.ready"]
    ready = next(body_of(r) for r in got if body_of(r)["type"] == "video.ready")
    assert set(ready) == {"type", "timestamp", "data"}
    data = ready["data"]
    assert (data["id"], data["status"], data["title"]) == (video_id, "READY", "Week 1")
    assert data["progress"] == {
        "percent": 100.0,
        "step": "ready",
        "source": "database",
        "updated_at": None,
    }
    # Signed by default: the payload names the playback id, and carries no URL (no token).
    assert (data["playback_policy"], data["assets"]) == ("signed", None)
    assert data["playback_id"] == hooks.repo.get(video_id).playback_id
    # A wrong secret does not verify: the signature is really over id.timestamp.body.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got[0].body, got[0].headers)
    assert got[0].headers["webhook-signature"].startswith("v1,")
    assert got[0].headers["content-type"] == "application/json"
    rows = hooks.deliveries(endpoint_id=endpoint.pk)
    assert [d.status for d in rows] == [DeliveryStatus.DELIVERED] * 2
    assert all(d.attempts == 1 and d.last_status_code == 200 for d in rows)


def test_event_types_filter_what_an_endpoint_receives(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver, READY_ONLY)
    hooks.ready_video()
    hooks.failed_video()
    assert hooks.dispatcher().drain().results == {"delivered": 1}
    assert [body_of(r)["type"] for r in receiver.wait_for(1)] == ["video.ready"]
    assert len(hooks.deliveries(endpoint_id=endpoint.pk)) == 1


def test_receiver_down_then_up_is_delivered_once_later(hooks: Hooks, receiver):
    down = WebhookReceiver()
    down.server.server_close()  # nothing listens on its port
    endpoint = hooks.endpoint(receiver, READY_ONLY)
    endpoint_row(endpoint.pk)
    type(endpoint).objects.filter(pk=endpoint.pk).update(url=down.url)
    hooks.ready_video()
    dispatcher = hooks.dispatcher()
    assert dispatcher.drain().results == {"retry": 1}
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_error == "connection refused or unreachable"
    # The first retry is 5 s later (jitter 0.5: exactly 5 s): not due before then.
    assert delivery.next_attempt_at == hooks.clock.now + timedelta(seconds=5)
    hooks.clock.advance(seconds=4)
    assert dispatcher.drain().claimed == 0
    # The receiver comes up (here: the endpoint now points at the live one).
    type(endpoint).objects.filter(pk=endpoint.pk).update(url=receiver.url)
    hooks.clock.advance(seconds=1)
    assert dispatcher.drain().results == {"delivered": 1}
    assert len(receiver.wait_for(1)) == 1
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    hooks.clock.advance(days=4)
    assert dispatcher.drain().claimed == 0
    assert len(receiver.received) == 1


def test_500s_then_200_keep_the_same_webhook_id_and_body(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver, READY_ONLY)
    receiver.replies.extend([Reply(500), Reply(503), Reply(200)])
    hooks.ready_video()
    dispatcher = hooks.dispatcher()
    assert dispatcher.drain().results == {"retry": 1}
    hooks.clock.advance(seconds=5)
    assert dispatcher.drain().results == {"retry": 1}
    hooks.clock.advance(minutes=5)
    assert dispatcher.drain().results == {"delivered": 1}
    got = receiver.wait_for(3)
    assert [r.answered for r in got] == [500, 503, 200]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    assert all(r.verified for r in got)
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.DELIVERED,
        3,
        200,
    )
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("pk"))
    assert [a.status_code for a in log] == [500, 503, 200]
    assert endpoint_row(endpoint.pk).consecutive_failures == 0


def test_410_disables_the_endpoint_and_fails_what_waited(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver)
    receiver.default = Reply(410)
    hooks.ready_video()  # processing + ready
    dispatcher = hooks.dispatcher(concurrency=1)
    report = dispatcher.run_once()
    assert report.results == {"gone": 1}
    row = endpoint_row(endpoint.pk)
    assert row.enabled is False and "410 Gone" in row.disabled_reason
    statuses = [d.status for d in hooks.deliveries(endpoint_id=endpoint.pk)]
    assert statuses == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]
    hooks.failed_video()  # a disabled endpoint gets no new deliveries
    hooks.clock.advance(days=1)
    assert dispatcher.drain().claimed == 0
    assert len(receiver.wait_for(1)) == 1
    assert len(hooks.deliveries(endpoint_id=endpoint.pk)) == 2


def test_slow_receiver_times_out_and_is_retried(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver, READY_ONLY)
    receiver.replies.append(Reply(200, delay=7))  # past the 5 s timeout
    hooks.ready_video()
    dispatcher = hooks.dispatcher()
    assert dispatcher.drain().results == {"retry": 1}
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.PENDING, "timed out")
    hooks.clock.advance(seconds=5)
    assert dispatcher.drain().results == {"delivered": 1}
    assert hooks.deliveries(endpoint_id=endpoint.pk)[0].status == DeliveryStatus.DELIVERED


def test_retry_after_is_honoured(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver, READY_ONLY)
    receiver.replies.append(Reply(429, headers={"Retry-After": "120"}))
    hooks.ready_video()
    dispatcher = hooks.dispatcher()
    attempted = hooks.clock.now
    assert dispatcher.drain().results == {"retry": 1}
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert delivery.next_attempt_at == attempted + timedelta(seconds=120)  # not 5 s
    hooks.clock.advance(seconds=119)
    assert dispatcher.drain().claimed == 0
    hooks.clock.advance(seconds=1)
    assert dispatcher.drain().results == {"delivered": 1}


def test_redirects_are_not_followed(hooks: Hooks, receiver):
    target = WebhookReceiver().start()
    try:
        endpoint = hooks.endpoint(receiver, READY_ONLY)
        receiver.replies.append(Reply(307, headers={"Location": target.url}))
        hooks.ready_video()
        assert hooks.dispatcher().drain().results == {"retry": 1}
        receiver.wait_for(1)
        assert target.received == []
        (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
        assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.PENDING, 307)
    finally:
        target.stop()


def test_every_retry_failing_fails_the_delivery_and_flags_the_endpoint(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver, READY_ONLY)
    receiver.default = Reply(500)
    hooks.ready_video()
    dispatcher = hooks.dispatcher()
    started = hooks.clock.now
    for _ in range(MAX_ATTEMPTS):
        assert dispatcher.drain().claimed == 1
        hooks.clock.advance(hours=25)  # past every step of the schedule
    assert dispatcher.drain().claimed == 0
    assert len(receiver.wait_for(MAX_ATTEMPTS)) == MAX_ATTEMPTS
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
    row = endpoint_row(endpoint.pk)
    assert row.failing_since is not None and row.enabled is True
    assert row.consecutive_failures == MAX_ATTEMPTS
    assert hooks.clock.now - started > timedelta(days=3)
    # The next success clears the flag.
    receiver.default = Reply(200)
    hooks.failed_video()
    type(row).objects.filter(pk=row.pk).update(event_types=["video.failed"])
    hooks.failed_video()
    assert dispatcher.drain().results == {"delivered": 1}
    row.refresh_from_db()
    assert (row.failing_since, row.consecutive_failures) == (None, 0)


@pytest.mark.postgres
def test_two_dispatchers_at_once_send_each_delivery_exactly_once(hooks: Hooks, receiver):
    hooks.endpoint(receiver)
    receiver.default = Reply(200, delay=0.05)
    videos = [hooks.ready_video() for _ in range(15)]  # 30 deliveries
    results: list[dict] = []
    start = threading.Barrier(2)

    def run(name: str) -> None:
        # A timeout far above the receiver's delay: only the claim decides who sends what.
        transport = UrllibWebhookTransport(
            timeout_seconds=10, allow_insecure=True, allow_private=True
        )
        dispatcher = hooks.dispatcher(name, concurrency=4, transport=transport)
        start.wait()
        results.append(dispatcher.drain().results)
        from django.db import connection

        connection.close()

    threads = [threading.Thread(target=run, args=(f"dispatcher-{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = receiver.wait_for(2 * len(videos))
    ids = [r.headers["webhook-id"] for r in got]
    assert len(ids) == len(set(ids)) == 30
    assert sum(r.get("delivered", 0) for r in results) == 30
    assert all(r.get("delivered", 0) > 0 for r in results), results  # both took a share
    assert {d.status for d in hooks.deliveries()} == {DeliveryStatus.DELIVERED}


def test_crash_between_claim_and_send_is_delivered_after_restart(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver, READY_ONLY)
    hooks.ready_video()
    crashed = hooks.dispatcher("crashed")
    # The dispatcher claims the delivery and dies before sending (nothing settles it).
    (claimed,) = crashed.store.claim_due(hooks.clock.now, 10, crashed.lock_seconds, "crashed")
    restarted = hooks.dispatcher("restarted")
    assert restarted.drain().claimed == 0  # still held by the dead claim
    hooks.clock.advance(seconds=crashed.lock_seconds + 1)
    assert restarted.drain().results == {"delivered": 1}
    (got,) = receiver.wait_for(1)
    assert got.headers["webhook-id"] == claimed.message_id
    # The dead dispatcher's late result is fenced out.
    from src.application.ports.webhooks import AttemptOutcome

    late = crashed._settle(claimed, AttemptOutcome(status_code=500))
    assert late == "claim_lost"
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_loopback_is_refused_at_send_time_without_the_dev_switch(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver, READY_ONLY)  # registered while private was allowed
    hooks.ready_video()
    strict = hooks.config.webhooks.__class__(
        **{**hooks.config.webhooks.__dict__, "allow_private": False}
    )
    transport = UrllibWebhookTransport(
        timeout_seconds=1, allow_insecure=True, allow_private=strict.allow_private
    )
    assert hooks.dispatcher(transport=transport).drain().results == {"refused": 1}
    (delivery,) = hooks.deliveries(endpoint_id=endpoint.pk)
    assert delivery.status == DeliveryStatus.PENDING
    assert "127.0.0.1, which is not a public address" in delivery.last_error
    assert receiver.received == []


def test_a_stop_requested_mid_pass_ends_it_after_the_batch_in_flight(hooks: Hooks, receiver):
    hooks.endpoint(receiver, READY_ONLY)
    for _ in range(5):
        hooks.ready_video()
    dispatcher = hooks.dispatcher(concurrency=2)
    asked: list[int] = []

    def stopping() -> bool:  # the stop arrives while the first batch is being sent
        asked.append(len(asked))
        return len(asked) > 1

    report = dispatcher.drain(stopping=stopping)
    assert (report.claimed, report.results) == (2, {"delivered": 2})
    assert len(receiver.wait_for(2)) == 2
    # The rest stays due for the next dispatcher (or this one after a restart).
    assert dispatcher.backlog() == 3
    assert dispatcher.drain().results == {"delivered": 3}
