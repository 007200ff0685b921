"""`python -m academy.serve` (what make serve runs): slow request headers are cut off."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from academy.config import DEVELOPMENT_ENV
from bench.harness import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT = 1.0


@pytest.fixture
def server(tmp_path) -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_"))}
    env.update(DEVELOPMENT_ENV)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "academy.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "VIDEO_STORAGE_URL": f"file://{tmp_path / 'media'}",
            "VIDEO_WORK_DIR": str(tmp_path / "work"),
        }
    )
    args = [sys.executable, "-m", "academy.serve", "--port", str(port)]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [*args, "--header-timeout", str(HEADER_TIMEOUT)], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        wait_until(lambda: _answers(port), timeout=60, what="academy.serve listening")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _response(sock: socket.socket) -> bytes:
    """One whole /health answer (its headers and body may come in separate packets)."""
    data = b""
    while b'{"status": "ok"}' not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closed `sock`, or None if it kept it open past `limit`."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return None
    except OSError:
        pass  # reset: closed too
    return time.monotonic() - started


def test_half_sent_headers_are_cut_off(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        took = _closed_after(sock, HEADER_TIMEOUT + 5)
    assert took is not None, "a client that never finished its headers kept its connection"


def test_a_connection_that_sends_nothing_is_cut_off(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        assert _closed_after(sock, HEADER_TIMEOUT + 5) is not None


def test_headers_trickled_a_byte_at_a_time_do_not_reset_the_deadline(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        started = time.monotonic()
        sock.settimeout(0.3)
        closed = False
        for byte in b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaa":
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(4096) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed, "trickled headers held the connection for the whole request"
        assert time.monotonic() - started < HEADER_TIMEOUT + 5


def test_a_kept_alive_connection_still_serves_whole_requests(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _response(sock).startswith(b"HTTP/1.1 200")
