"""Fixtures for end-to-end tests: storage, the test database's URL, videos, processes.

moto's server and the queue fixture are in tests/conftest.py (integration tests use them too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.harness import ProcessLog
from tests.e2e.harness import TEST_REDIS_URL, base_env, database_url
from tests.services import require_services


@pytest.fixture(scope="session", autouse=True)
def services_up() -> None:
    require_services()


@pytest.fixture
def storage_root(tmp_path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    return root


@pytest.fixture
def db_url(transactional_db, django_db_setup):
    from django.db import connection

    return database_url(connection.settings_dict)


@pytest.fixture
def tenant(transactional_db):
    from apps.support.video.models import Tenant

    return Tenant.objects.create(slug=f"academy-{os.urandom(3).hex()}", name="Test Academy")


@pytest.fixture
def make_video(tenant, storage_root):
    """An UPLOADED video whose source file is in local storage."""
    import redis

    from apps.support.video.models import Video
    from src.application.storage_keys import source_key
    from src.infrastructure.cache.redis_keys import heartbeat_key, progress_key

    stale_redis = redis.Redis.from_url(TEST_REDIS_URL)

    def make(source: Path | None = None, content: bytes = b"fake source bytes", t=None):
        t = t or tenant
        video = Video.objects.create(tenant=t, title="lecture")
        name = source.name if source else "lecture.mp4"
        key = source_key(t.id, video.id, name)
        target = storage_root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes() if source else content)
        Video.objects.filter(pk=video.pk).update(source_key=key)
        video.refresh_from_db()
        # Each test run has a fresh database, so ids repeat across runs while Redis keeps
        # keys for up to an hour: start every video without an earlier run's telemetry.
        stale_redis.delete(progress_key(t.id, video.id), heartbeat_key(t.id, video.id))
        return video

    return make


@pytest.fixture
def spawn(tmp_path, db_url, sqs, storage_root):
    """Start processes with the e2e environment; all are killed at the end of the test."""
    started: list[ProcessLog] = []

    def start(name: str, args: list[str], **env_extra) -> ProcessLog:
        env = base_env(db_url, env_extra.pop("sqs", sqs), storage_root, **env_extra)
        proc = ProcessLog(name, args, env, tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
