"""The services integration and end-to-end tests talk to: checked once, before the first test."""

from __future__ import annotations

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
