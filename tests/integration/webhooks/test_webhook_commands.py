"""manage.py add_webhook and the retention prune the cleanup pass calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from academy.adapters.db.django.webhook_store import prune_webhook_deliveries
from apps.support.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from src.application.domain.webhooks import DeliveryStatus
from tests.integration.webhooks.conftest import Hooks


def test_add_webhook_prints_the_secret_on_the_last_line(hooks: Hooks, capsys):
    call_command(
        "add_webhook",
        "--tenant",
        hooks.tenant.slug,
        "--url",
        "https://hooks.example.com/in",
        "--event",
        "video.ready",
        "--event",
        "video.failed",
    )
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret
    assert endpoint.event_types == ["video.ready", "video.failed"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tenant", "nobody", "--url", "https://hooks.example.com/"], "no tenant"),
        (["--tenant", "academy-hooks", "--url", "ftp://hooks.example.com/"], "https://"),
    ],
)
def test_add_webhook_refuses_and_creates_nothing(hooks: Hooks, args, message):
    with pytest.raises(CommandError, match=message) as caught:
        call_command("add_webhook", *args)
    assert caught.value.returncode == 2
    assert not WebhookEndpoint.objects.exists()


def test_prune_removes_finished_deliveries_past_retention_only(hooks: Hooks, receiver):
    hooks.endpoint(receiver)
    hooks.ready_video()  # two deliveries
    old, recent = hooks.deliveries()
    long_ago = timezone.now() - timedelta(days=40)
    WebhookDelivery.objects.filter(pk=old.pk).update(
        status=DeliveryStatus.DELIVERED, finished_at=long_ago
    )
    WebhookEvent.objects.update(created_at=long_ago)
    assert prune_webhook_deliveries(retention_days=30, dry_run=True).deliveries == 1
    pruned = prune_webhook_deliveries(retention_days=30)
    assert (pruned.deliveries, pruned.events) == (1, 1)
    # The pending one stays, whatever its age, and so does its event.
    assert [d.pk for d in hooks.deliveries()] == [recent.pk]
    assert WebhookEvent.objects.count() == 1
    assert prune_webhook_deliveries(retention_days=30) == type(pruned)(0, 0)
