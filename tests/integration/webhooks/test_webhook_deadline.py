"""One webhook attempt has a hard deadline: a receiver trickling its answer cannot hold it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from src.application.deliver_webhooks import LOCK_MARGIN_SECONDS, WebhookDispatcher
from src.infrastructure.webhooks.http_transport import UrllibWebhookTransport

TIMEOUT = 1.0
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class TricklingReceiver:
    """Accepts, reads the request, then sends `head` at once and `trickle` a byte every
    `pace` seconds (30 bytes: 15 s at 0.5 s a byte, far past the timeout)."""

    def __init__(self, head: bytes, trickle: bytes, pace: float = 0.5) -> None:
        self.head, self.trickle, self.pace = head, trickle, pace
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            try:
                conn.sendall(self.head)
                for byte in self.trickle:
                    if self.stop.wait(self.pace):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the sender hung up: what the test expects

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture
def trickle() -> Iterator[list[TricklingReceiver]]:
    made: list[TricklingReceiver] = []
    yield made
    for receiver in made:
        receiver.close()


def _send(receiver: TricklingReceiver):
    transport = UrllibWebhookTransport(
        timeout_seconds=TIMEOUT, allow_insecure=True, allow_private=True
    )
    started = time.monotonic()
    outcome = transport.send(
        f"http://127.0.0.1:{receiver.port}/hook", "msg_1", SECRET, '{"type":"video.ready"}'
    )
    return outcome, time.monotonic() - started


def test_a_body_trickled_after_200_ends_at_the_deadline_and_counts_as_answered(trickle):
    receiver = TricklingReceiver(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"x" * 30, pace=0.5
    )
    trickle.append(receiver)
    outcome, took = _send(receiver)
    assert took < TIMEOUT + 1.0, f"the attempt took {took:.1f} s against a {TIMEOUT} s timeout"
    assert outcome.status_code == 200  # the receiver said 200: delivered, never re-sent
    assert outcome.response_excerpt.startswith("x") or outcome.response_excerpt == ""


def test_headers_trickled_byte_by_byte_time_out(trickle):
    receiver = TricklingReceiver(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 22, pace=0.5)
    trickle.append(receiver)
    outcome, took = _send(receiver)
    assert took < TIMEOUT + 1.0, f"the attempt took {took:.1f} s against a {TIMEOUT} s timeout"
    assert (outcome.status_code, outcome.error) == (None, "timed out")


def test_the_claim_outlives_any_attempt():
    transport = UrllibWebhookTransport(timeout_seconds=30)
    dispatcher = WebhookDispatcher(
        store=None, transport=transport, dispatcher_id="d", timeout_seconds=30
    )
    assert dispatcher.lock_seconds >= transport.max_attempt_seconds + LOCK_MARGIN_SECONDS / 2
