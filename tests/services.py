"""The services integration and end-to-end tests talk to: checked once, before the first test."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

SERVICES = (("PostgreSQL", 5432), ("Redis", 6379))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_services() -> None:
    """Stop the run with one clear line when PostgreSQL, Redis or ffmpeg is missing."""
    missing = [
        f"{name} at 127.0.0.1:{port}"
        for name, port in SERVICES
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


# `make test` runs the suite in two pytest-xdist workers at once. Each worker has its own
# PostgreSQL database (tests/settings.py names it after the process) and here its own Redis
# databases: a test's keys (`tenant:1:video:1:…` in a fresh database) never meet the other
# worker's. Redis has 16 databases; the demo keeps 9, the benchmarks 3 and 4.
_REDIS_DBS = {2: (2, 5), 11: (11, 6), 12: (12, 7), 13: (13, 8), 15: (15, 10)}


def redis_test_db(db: int) -> int:
    """This pytest process's Redis database for the suite's database `db` (2, 11, 12, 13, 15)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return _REDIS_DBS[db][index]


def redis_test_url(db: int, port: int = 6379) -> str:
    return f"redis://127.0.0.1:{port}/{redis_test_db(db)}"
