"""Live progress on the real PostgreSQL and Redis: the ASGI application driven by Channels'
communicators, events published by the worker's own Redis adapter."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from academy import current
from academy.bootstrap import Services, bootstrap
from apps.api.keys.api_keys import issue_key
from apps.api.live.service import run_blocking
from apps.api.live.tokens import issue_token
from apps.support.video.models import Tenant
from src.application.ports.fakes import InMemoryQueue
from src.application.ports.video_repository import VideoResult
from src.application.storage_keys import job_output_prefix
from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client
from src.infrastructure.storage.local_storage import LocalStorage
from tests.services import redis_test_url

# A Redis database of its own: ids restart with every test database, and the API suite
# (database 11) clears its keys as each of its tests ends.
LIVE_REDIS_URL = redis_test_url(13)
WORKER = "live-test-worker"


@dataclass
class LiveHarness:
    services: Services  # the API's adapters (what it serves with: services.api())
    tenant: Tenant
    key: str
    worker_progress: RedisProgressAdapter  # what a worker publishes through
    redis_url: str
    key_ids: dict[int, int] = dataclasses.field(default_factory=dict)  # tenant -> its key row

    @property
    def repository(self):
        return self.services.repository

    def video(self, tenant: Tenant | None = None) -> int:
        return self.repository.create_video((tenant or self.tenant).id, "Lecture", "src/key")

    def claim(self, video_id: int):
        return self.repository.try_claim_video(video_id, WORKER, 120)

    def complete(self, lease) -> bool:
        prefix = job_output_prefix(lease.media_salt, lease.token)
        result = VideoResult(
            hls_key=f"{prefix}/master.m3u8",
            thumbnail_key=f"{prefix}/thumb.jpg",
            duration_seconds=12.0,
        )
        return self.repository.complete(lease, result)

    def token(self, video_id: int, tenant: Tenant | None = None) -> str:
        """A progress token as GET /api/v1/videos/{id} hands out: issued to the tenant's key
        (no database read: tests call it inside the event loop)."""
        config = settings.CONFIG
        tenant = tenant or self.tenant
        issued = issue_token(
            tenant.id,
            video_id,
            self.key_ids[tenant.id],
            config.secret_key,
            config.progress_token_ttl_seconds,
        )
        return issued.token

    def rebuild(self, progress: RedisProgressAdapter | None = None, **config_changes) -> None:
        """Serve with these settings changed (and this Redis adapter, when given)."""
        old = self.services
        self.services = bootstrap(
            dataclasses.replace(old.config, **config_changes),
            queue=old.queue,
            progress=progress or old.progress,
            storage=old.storage,
        )
        current.override(self.services.api())

    def new_tenant(self, slug: str) -> tuple[Tenant, str]:
        tenant = Tenant.objects.create(slug=slug, name=slug)
        row, key = issue_key(tenant, "other", settings.CONFIG.api_key_pepper)
        self.key_ids[tenant.id] = row.id
        return tenant, key


def progress_adapter(url: str) -> RedisProgressAdapter:
    return RedisProgressAdapter(
        redis_client(url), events_prefix=settings.CONFIG.live_channel_prefix
    )


@pytest.fixture
def live(transactional_db, tmp_path: Path) -> LiveHarness:
    """The API's use cases on PostgreSQL and Redis (status announcements included). Automatic
    captions are off: a stream then ends at `ready` (test_live_captions.py turns them on)."""
    progress = progress_adapter(LIVE_REDIS_URL)
    config = settings.CONFIG
    services = bootstrap(
        dataclasses.replace(config, captions=dataclasses.replace(config.captions, enabled=False)),
        queue=InMemoryQueue(),
        progress=progress,
        storage=LocalStorage(tmp_path),
    )
    current.override(services.api())
    tenant = Tenant.objects.create(slug="academy-live", name="Academy Live")
    row, key = issue_key(tenant, "tests", settings.CONFIG.api_key_pepper)
    try:
        yield LiveHarness(
            services,
            tenant,
            key,
            progress_adapter(LIVE_REDIS_URL),
            LIVE_REDIS_URL,
            key_ids={tenant.id: row.id},
        )
    finally:
        current.override(None)
        # The streams' database thread keeps its connection, and each HTTP request under ASGI
        # runs its sync parts on a thread of its own: end those sessions (of this run's own
        # test database only), or the database cannot be dropped.
        asyncio.run(run_blocking(connections.close_all))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        client = progress.client
        for key_name in client.scan_iter("tenant:*"):
            client.delete(key_name)


async def eventually(predicate, timeout: float = 10.0, what: str = ""):
    """Await until `predicate()` (sync) is truthy; the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)
