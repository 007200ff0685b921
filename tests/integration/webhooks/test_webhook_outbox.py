"""The outbox on PostgreSQL: nothing is recorded for a write that rolls back; the admin shows
the log; the transport connects to the address it checked, under the URL's own host name."""

from __future__ import annotations

import socket

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

from apps.support.webhooks.models import WebhookDelivery, WebhookEvent
from src.infrastructure.webhooks.http_transport import UrllibWebhookTransport
from tests.integration.webhooks.conftest import Hooks


class Rollback(Exception):
    pass


def test_a_change_that_rolls_back_records_no_event(hooks: Hooks, receiver):
    hooks.endpoint(receiver)
    video_id = hooks.repo.create_video(hooks.tenant.pk, title="t", source_key="s.mp4")
    with pytest.raises(Rollback), transaction.atomic():
        assert hooks.repo.try_claim_video(video_id, "worker-a") is not None
        assert WebhookEvent.objects.filter(video_id=video_id).count() == 1  # inside: visible
        raise Rollback
    assert hooks.repo.get(video_id).attempts == 0
    assert not WebhookEvent.objects.filter(video_id=video_id).exists()
    assert not WebhookDelivery.objects.exists()
    assert hooks.dispatcher().drain().claimed == 0


def test_the_transport_connects_to_the_checked_address_with_the_urls_host(
    hooks: Hooks, receiver, monkeypatch
):
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        if host == "hooks.academy.test":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    receiver.secret = "whsec_" + "QUJD" * 8
    transport = UrllibWebhookTransport(timeout_seconds=2, allow_insecure=True, allow_private=True)
    url = f"http://hooks.academy.test:{receiver.port}/in?x=1"
    outcome = transport.send(url, "msg_pinned", receiver.secret, '{"type":"video.ready"}')
    assert outcome.status_code == 200, outcome
    (got,) = receiver.wait_for(1)
    assert got.headers["host"] == f"hooks.academy.test:{receiver.port}"
    assert got.verified
    # The name was resolved once, by the guard; the connection went to the address it checked.
    assert asked.count("hooks.academy.test") == 1


def test_the_admin_lists_endpoints_deliveries_and_events(hooks: Hooks, receiver):
    endpoint = hooks.endpoint(receiver)
    hooks.ready_video()
    hooks.dispatcher().drain()
    User.objects.create_superuser("ops", "ops@example.com", "pw")
    client = Client()
    client.login(username="ops", password="pw")
    for page in ("webhookendpoint", "webhookdelivery", "webhookevent"):
        response = client.get(f"/admin/webhooks/{page}/")
        assert response.status_code == 200, page
    delivery = WebhookDelivery.objects.first()
    page = client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200 and b"Delivered" in page.content
    form = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")
    assert form.status_code == 200 and endpoint.secret.encode() not in form.content
