"""Fixtures every tier may use. Unit tests need no service; the integration and e2e conftests
check PostgreSQL, Redis and ffmpeg before their first test (tests/services.py)."""

from __future__ import annotations

import os

import pytest

from bench.harness import free_port
from tests.e2e.harness import AWS_ENV, SqsFixture


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server on a free loopback port: SQS (and S3) as boto3 sees them, in-process."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    for key, value in AWS_ENV.items():
        os.environ.setdefault(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def sqs(moto_endpoint):
    return SqsFixture(moto_endpoint)


@pytest.fixture
def read_only_dir(tmp_path):
    """A real read-only filesystem (a tmpfs mounted ro)."""
    from tests.filesystems import tmpfs

    with tmpfs(tmp_path / "ro", "64k", read_only=True) as path:
        yield path
