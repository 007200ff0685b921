"""A local webhook receiver that checks every signature with the `standardwebhooks` package,
the way a tenant's receiver would. The demo registers one with `manage.py add_webhook` and
feeds it with a `manage.py deliver_webhooks --loop` child; the tests script its answers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .failures import DemoFailed

# Local development only: a receiver on this machine is loopback, and plain http.
DEV_ENV = {"VIDEO_WEBHOOK_ALLOW_INSECURE": "1", "VIDEO_WEBHOOK_ALLOW_PRIVATE": "1"}
DISPATCH_INTERVAL = "0.5"
HOLD_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow receiver)
    # Answer only once this is set (at most HOLD_MAX_SECONDS): a test looks at the sender
    # while its request is in flight.
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # lower-case names
    body: str
    verified: bool
    payload: dict[str, Any] | None
    answered: int

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class VerifyingReceiver:
    """Answers each POST with `reply(verified)` and keeps what arrived, in order."""

    def __init__(self, secret: str = "", path: str = "/academy/webhooks") -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver._handle(self, body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"

    def reply(self, verified: bool) -> Reply:
        """2xx for a verified body only: a bad signature is retried, as a tenant would."""
        return Reply(204 if verified else 400)

    def _handle(self, handler: BaseHTTPRequestHandler, body: str) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            payload, verified = Webhook(self.secret).verify(body, headers), True
        except (WebhookVerificationError, ValueError):
            payload, verified = None, False
        with self.cond:
            reply = self.reply(verified)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.hold is not None:
            reply.hold.wait(HOLD_MAX_SECONDS)
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the sender gave up waiting (a timeout)
        with self.cond:
            self.received.append(Received(headers, body, verified, payload, reply.status))
            self.cond.notify_all()

    def start(self) -> VerifyingReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_until(self, done: Callable[[list[Received]], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: done(self.received), timeout)

    # -- the demo ------------------------------------------------------------------------------
    def register(self, root: Path, env: dict[str, str], tenant: str) -> None:
        """`manage.py add_webhook` for `tenant` (video.ready only); keeps the secret it prints."""
        args = [sys.executable, "manage.py", "add_webhook", "--tenant", tenant, "--url", self.url]
        args += ["--event", "video.ready", "--description", "make demo"]
        done = subprocess.run(
            args,
            cwd=root,
            env={**env, **DEV_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"add_webhook failed: {done.stderr.strip()[-500:]}")
        self.secret = done.stdout.strip().splitlines()[-1]

    def ready_for(self, video_ids: set[int], timeout: float) -> list[Received]:
        """The verified video.ready deliveries, once one arrived for every id (or timeout)."""

        def ready(received: list[Received]) -> list[Received]:
            return [r for r in received if r.verified and r.payload["type"] == "video.ready"]

        self.wait_until(
            lambda got: video_ids <= {r.payload["data"]["id"] for r in ready(got)}, timeout
        )
        with self.cond:
            return ready(self.received)


def dispatcher_args() -> list[str]:
    return [sys.executable, "manage.py", "deliver_webhooks", "--loop", DISPATCH_INTERVAL]


def describe(received: Received) -> str:
    data = (received.payload or {}).get("data", {})
    return (
        f"webhook received: {received.payload['type']} for video {data.get('id')} "
        f"({data.get('status')}), webhook-id {received.webhook_id}, signature verified"
    )


def signed_ready_for_all(
    receiver: VerifyingReceiver, video_ids: set[int], timeout: float, dispatcher_log: str
) -> str:
    """Wait (bounded) for a signed video.ready delivery for every id; a line describing one.
    DemoFailed naming the videos whose webhook did not come."""
    got = receiver.ready_for(video_ids, timeout)
    missing = video_ids - {r.payload["data"]["id"] for r in got if r.payload}
    if missing:
        unverified = sum(not r.verified for r in receiver.received)
        raise DemoFailed(
            f"no signed video.ready webhook arrived for video(s) {sorted(missing)} within "
            f"{timeout:g} s ({len(receiver.received)} received, {unverified} with a bad "
            f"signature); see {dispatcher_log}"
        )
    return (
        f"{describe(got[0])} with the standardwebhooks library, at {receiver.url} "
        f"(video.ready arrived signed for all {len(video_ids)} videos)"
    )
