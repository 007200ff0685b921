"""Webhooks on the real PostgreSQL, sent to a real receiver on loopback, on an injected clock."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from academy.bootstrap import build_webhook_dispatcher
from apps.api.presenters.videos import webhook_video
from apps.support.video.models import Tenant
from apps.support.webhooks.endpoints import create_endpoint
from apps.support.webhooks.models import WebhookDelivery, WebhookEndpoint
from src.application.deliver_webhooks import WebhookDispatcher
from src.application.domain import ErrorCode
from src.application.domain.webhooks import VideoEventType
from src.application.ports.video_repository import VideoResult
from tests.webhook_receiver import WebhookReceiver


class Clock:
    """The dispatcher's clock: moves only when a test says so. It starts a minute ahead, so
    every event a test makes (timed by the database's clock) is already due."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@dataclass
class Hooks:
    tenant: Tenant
    repo: DjangoVideoRepository
    clock: Clock
    config: object

    def endpoint(self, receiver: WebhookReceiver, types: list[str] | None = None):
        created = create_endpoint(self.tenant.pk, receiver.url, types)
        receiver.secret = created.secret
        return created.endpoint

    def dispatcher(self, name: str = "dispatcher-1", **overrides) -> WebhookDispatcher:
        return build_webhook_dispatcher(
            self.config,
            webhook_video,
            dispatcher_id=name,
            clock=self.clock,
            rand=lambda: 0.5,
            **overrides,
        )

    def ready_video(self) -> int:
        """A video a worker claimed and completed: video.processing, then video.ready."""
        video_id = self.repo.create_video(self.tenant.pk, title="Week 1", source_key="src.mp4")
        lease = self.repo.try_claim_video(video_id, "worker-a")
        assert lease is not None
        assert self.repo.complete(lease, VideoResult(hls_key=f"t/v/{video_id}/hls/master.m3u8"))
        return video_id

    def failed_video(self) -> int:
        video_id = self.repo.create_video(self.tenant.pk, title="broken", source_key="x.mp4")
        lease = self.repo.try_claim_video(video_id, "worker-a")
        assert self.repo.fail(lease, ErrorCode.PROBE_FAILED, "not a video", retryable=False)
        return video_id

    def deliveries(self, **filters) -> list[WebhookDelivery]:
        return list(WebhookDelivery.objects.filter(**filters).order_by("pk"))


READY_ONLY = [VideoEventType.READY.value]


@pytest.fixture
def hooks(transactional_db, settings) -> Hooks:
    config = settings.CONFIG
    config = dataclasses.replace(
        config,
        webhooks=dataclasses.replace(
            config.webhooks, allow_insecure=True, allow_private=True, timeout_seconds=5
        ),
    )
    settings.CONFIG = config
    tenant = Tenant.objects.create(slug="academy-hooks", name="Academy")
    return Hooks(tenant, DjangoVideoRepository(), Clock(), config)


@pytest.fixture
def receiver():
    r = WebhookReceiver().start()
    yield r
    r.stop()


def endpoint_row(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.get(pk=endpoint_id)
