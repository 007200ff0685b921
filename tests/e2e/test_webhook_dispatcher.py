"""The deliver_webhooks process: events committed while no dispatcher runs (one was killed)
are delivered once it is back; SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import sys

from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from apps.support.webhooks.endpoints import create_endpoint
from apps.support.webhooks.models import WebhookDelivery
from bench.harness import ProcessLog, wait_until
from src.application.domain.webhooks import DeliveryStatus
from src.application.ports.video_repository import VideoResult
from tests.webhook_receiver import WebhookReceiver


def _dispatcher(name: str, db_url: str, log_dir) -> ProcessLog:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="academy.settings",
        DATABASE_URL=db_url,
        VIDEO_WEBHOOK_ALLOW_INSECURE="1",
        VIDEO_WEBHOOK_ALLOW_PRIVATE="1",
        WORKER_ID=name,
        PYTHONUNBUFFERED="1",
    )
    args = [sys.executable, "manage.py", "deliver_webhooks", "--loop", "0.2"]
    return ProcessLog(name, args, env, log_dir)


def test_events_committed_while_the_dispatcher_is_dead_are_delivered_after_restart(
    db_url, tenant, tmp_path, settings
):
    import dataclasses

    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        webhooks=dataclasses.replace(
            settings.CONFIG.webhooks, allow_insecure=True, allow_private=True
        ),
    )
    receiver = WebhookReceiver().start()
    first = _dispatcher("dispatcher-a", db_url, tmp_path)
    second = None
    try:
        receiver.secret = create_endpoint(tenant.pk, receiver.url, ["video.ready"]).secret
        first.wait_event("WEBHOOK_DISPATCHER_STARTED")
        first.signal(signal.SIGKILL)
        first.wait()
        # The worker's fenced complete commits while no dispatcher is alive.
        repo = DjangoVideoRepository()
        video_id = repo.create_video(tenant.pk, title="Week 2", source_key="s.mp4")
        lease = repo.try_claim_video(video_id, "worker-a")
        assert repo.complete(lease, VideoResult(hls_key="k/master.m3u8"))
        assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING
        second = _dispatcher("dispatcher-b", db_url, tmp_path)
        (got,) = receiver.wait_for(1, timeout=30)
        assert got.verified and got.payload["data"]["id"] == video_id
        second.wait_event("WEBHOOK_DELIVERED", video_id=video_id)
        wait_until(
            lambda: WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED,
            10,
            what="the delivery row marked DELIVERED",
        )
        second.signal(signal.SIGTERM)
        assert second.wait(15) == 0
        assert second.events("WEBHOOK_DISPATCHER_STOPPED")[0]["signal"] == "SIGTERM"
        assert len(receiver.received) == 1
        assert second.problems() == []
    finally:
        first.kill()
        if second is not None:
            second.kill()
        receiver.stop()
