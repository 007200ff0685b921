"""Fixtures every tier may use. Unit tests need no service; the integration and e2e conftests
check PostgreSQL, Redis and ffmpeg before their first test (tests/services.py)."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time

import pytest

from bench.harness import free_port
from tests.e2e.harness import AWS_ENV, SqsFixture


@contextlib.contextmanager
def atomic_moto_sqs():
    """Make moto's SQS operations atomic, as SQS's are.

    moto's server answers requests on several threads and its queue is not locked: two
    deletes at once can rebuild the message list from the same snapshot, so one deleted
    message comes back as in flight (seen as an e2e flake: four workers, `(0, 1, 0)` left
    after every job was acknowledged). Each operation here holds one lock; a long poll
    waits outside it, between non-blocking tries.
    """
    from moto.sqs.models import SQSBackend

    lock = threading.RLock()
    originals = {
        name: getattr(SQSBackend, name)
        for name in (
            "receive_message",
            "delete_message",
            "change_message_visibility",
            "send_message",
        )
    }

    def locked(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            with lock:
                return fn(*args, **kwargs)

        return call

    def receive_message(self, queue_name, count, wait_seconds_timeout, *args, **kwargs):
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with lock:
                found = originals["receive_message"](self, queue_name, count, 0, *args, **kwargs)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            self.get_queue(queue_name).wait_for_messages(min(1, left))

    for name in ("delete_message", "change_message_visibility", "send_message"):
        setattr(SQSBackend, name, locked(originals[name]))
    SQSBackend.receive_message = receive_message
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(SQSBackend, name, fn)


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
    with atomic_moto_sqs():
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
