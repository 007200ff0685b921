"""The receiver the tests send webhooks to: the demo's (a real HTTP server on a loopback port
verifying signatures with the `standardwebhooks` package), with answers a test scripts."""

from __future__ import annotations

import json
from collections import deque

from scripts.demo_support.webhooks import Received, Reply, VerifyingReceiver

__all__ = ["Received", "Reply", "WebhookReceiver", "body_of"]


class WebhookReceiver(VerifyingReceiver):
    """`replies` are used in order, then `default` (200)."""

    def __init__(self, secret: str = "") -> None:
        super().__init__(secret, path="/hooks/video")
        self.replies: deque[Reply] = deque()
        self.default = Reply(200)

    def reply(self, verified: bool) -> Reply:
        return self.replies.popleft() if self.replies else self.default

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived (the event itself, not a guessed sleep)."""
        if not self.wait_until(lambda got: len(got) >= count, timeout):
            raise AssertionError(f"{len(self.received)} of {count} webhooks arrived")
        with self.cond:
            return list(self.received)


def body_of(received: Received) -> dict:
    return json.loads(received.body)
