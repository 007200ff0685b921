"""The three implementations of the video repository port, built the same way for every test."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from academy.adapters.db.django.repositories_video import DjangoVideoRepository, db_now
from src.application.domain import ErrorCode, Lease
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.ports.video_repository import VideoRepository, VideoResult

# Backend name -> Django database alias (None: the in-memory fake, no database).
ALIASES: dict[str, str | None] = {"memory": None, "sqlite": "sqlite", "postgres": "default"}

# Every Django-backed test here writes through both aliases; transaction=True so that
# commits are real (as in production) and the flush afterwards removes what the test made.
DJANGO_DB = pytest.mark.django_db(databases=["default", "sqlite"], transaction=True)

# A lease short enough to watch expire, and a sleep that outlasts it with margin for clock
# granularity (SQLite's now() has millisecond precision).
SHORT_LEASE_SECONDS = 1
PAST_SHORT_LEASE_SECONDS = 1.3


@dataclass
class Backend:
    name: str
    repo: VideoRepository
    tenant_id: int
    alias: str | None

    def now(self) -> datetime:
        """The clock leases are measured against: the database's for Django backends."""
        return db_now(self.alias) if self.alias else datetime.now(UTC)

    def new_video(self, title: str = "lecture", source_key: str = "") -> int:
        return self.repo.create_video(self.tenant_id, title=title, source_key=source_key)

    def claimed_video(self, worker_id: str = "worker-a", lease_seconds: int | None = None):
        """A fresh video and the lease on it."""
        video_id = self.new_video()
        lease = self.repo.try_claim_video(video_id, worker_id, lease_seconds=lease_seconds)
        assert lease is not None
        return video_id, lease


BackendFactory = Callable[..., Backend]


def make_repo(alias: str | None, max_attempts: int, lease_seconds: int) -> VideoRepository:
    if alias is None:
        return InMemoryVideoRepository(max_attempts, lease_seconds)
    return DjangoVideoRepository(max_attempts, lease_seconds, using=alias)


def wait_past_short_lease() -> None:
    time.sleep(PAST_SHORT_LEASE_SECONDS)


def fenced_writes(repo: VideoRepository, lease: Lease) -> dict[str, object]:
    """Every fenced write a worker can try with `lease`, and what each returned."""
    return {
        "renew_lease": repo.renew_lease(lease, 600),
        "complete": repo.complete(lease, VideoResult(hls_key=f"from-{lease.worker_id}")),
        "fail": repo.fail(lease, ErrorCode.TRANSCODE_FAILED, "stale", retryable=False),
        "release": repo.release(lease),
    }
