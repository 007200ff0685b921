"""Shared fixtures: the real PostgreSQL and Redis must be up (make test starts them)."""

from __future__ import annotations

import shutil
import socket

import pytest


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = [
        f"{name} at 127.0.0.1:{port}"
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if not _reachable("127.0.0.1", port)
    ]
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        missing.append("ffmpeg/ffprobe on PATH")
    if missing:
        pytest.exit(
            "required services are not running: "
            + ", ".join(missing)
            + " (run `make services` or `make test`, which start or install them)",
            returncode=3,
        )


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def read_only_dir(tmp_path):
    """A real read-only filesystem (a tmpfs mounted ro)."""
    from tests.filesystems import tmpfs

    with tmpfs(tmp_path / "ro", "64k", read_only=True) as path:
        yield path
