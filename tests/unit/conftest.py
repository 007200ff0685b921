"""Unit tests: the fakes only, no service running (make unit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from academy.bootstrap import bootstrap
from academy.config import load_config
from apps.worker.video_worker.assembly import message_handler
from src.application.ports.fakes import (
    FakeClock,
    FakeTranscoder,
    InMemoryProgress,
    InMemoryQueue,
    InMemoryStorage,
    InMemoryUnitOfWork,
)
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository


class World:
    """A worker wired by the composition root on fakes; the queue runs on a clock the test
    moves."""

    def __init__(self, tmp_path: Path, fast_ack: bool = False, transcoder=None, **env) -> None:
        self.work_root = tmp_path / "work"
        config = load_config(
            {
                "VIDEO_FAST_ACK": "1" if fast_ack else "0",
                "WORKER_ID": "worker-test",
                "VIDEO_HEARTBEAT_TTL": "3",
                "VIDEO_LEASE_SECONDS": "30",
                "VIDEO_WORK_DIR": str(self.work_root),
                **env,
            }
        )
        self.clock = FakeClock()
        self.services = bootstrap(
            config,
            unit_of_work=InMemoryUnitOfWork(InMemoryVideoRepository(config.max_attempts)),
            queue=InMemoryQueue(config.visibility_timeout, clock=self.clock),
            progress=InMemoryProgress(),
            storage=InMemoryStorage(),
            transcoder=transcoder or FakeTranscoder(),
            clock=self.clock,
        )
        self.config = config
        self.repo = self.services.repository
        self.queue = self.services.queue
        self.progress = self.services.progress
        self.storage = self.services.storage
        self.transcoder = self.services.transcoder
        self.handler = message_handler(self.services)

    def video(self, tenant_id: int = 7) -> int:
        vid = self.repo.create_video(tenant_id, "lecture")
        key = f"tenants/{tenant_id}/videos/{vid}/source/lecture.mp4"
        self.storage.objects[key] = b"not really a video"
        self.repo.set_source_key(vid, key)
        return vid

    def message(self, video_id: int, tenant_id: int = 7, **extra) -> str:
        body = {"video_id": video_id, "tenant_id": tenant_id, "request_id": "req-1", **extra}
        return self.queue.put(json.dumps(body))

    def handle_next(self):
        """Receive the next visible message and handle it; (result, log entries)."""
        received = self.queue.receive(0)
        assert received is not None, "no message is visible"
        with capture_logs() as logs:
            result = self.handler.handle(received)
        return result, logs


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def make_world(tmp_path: Path):
    return lambda **kwargs: World(tmp_path, **kwargs)
