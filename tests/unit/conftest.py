"""Unit tests: the fakes only, no service running (make unit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from academy.config import load_config
from apps.worker.video_worker.ack import Acknowledger
from apps.worker.video_worker.handler import MessageHandler
from src.application.handle_job import HandleJob
from src.application.ports.fakes import (
    FakeClock,
    FakeTranscoder,
    InMemoryProgress,
    InMemoryQueue,
    InMemoryStorage,
)
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.process_video import ProcessVideo


class World:
    """A worker wired on fakes; the queue runs on a clock the test moves."""

    def __init__(self, tmp_path: Path, fast_ack: bool = False, transcoder=None, **env) -> None:
        self.config = load_config(
            {
                "VIDEO_FAST_ACK": "1" if fast_ack else "0",
                "WORKER_ID": "worker-test",
                "VIDEO_HEARTBEAT_TTL": "3",
                "VIDEO_LEASE_SECONDS": "30",
                **env,
            }
        )
        self.clock = FakeClock()
        self.repo = InMemoryVideoRepository(max_attempts=self.config.max_attempts)
        self.queue = InMemoryQueue(self.config.visibility_timeout, clock=self.clock)
        self.progress = InMemoryProgress()
        self.storage = InMemoryStorage()
        self.transcoder = transcoder or FakeTranscoder()
        self.work_root = tmp_path / "work"
        self.process = ProcessVideo(self.repo, self.storage, self.transcoder, self.work_root)
        self.ack = Acknowledger(
            self.queue,
            fast_ack=self.config.fast_ack,
            visibility_timeout=self.config.visibility_timeout,
        )
        self.handle_job = HandleJob(
            self.repo,
            self.progress,
            self.process,
            worker_id=self.config.worker_id,
            lease_seconds=self.config.lease_seconds,
            heartbeat_interval=self.config.heartbeat_interval,
            keep_in_flight=self.ack.keep_in_flight,
        )
        self.handler = MessageHandler(self.handle_job, self.ack)

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
