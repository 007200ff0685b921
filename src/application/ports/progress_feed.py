"""Live feed port: the events a video's worker and the API announce, as they happen.

Async, because its readers are WebSocket and SSE streams, each a task in one event loop.
The feed only tells a stream that something changed; what it shows comes from the progress
key and the row (src/application/live_progress.py).
"""

from __future__ import annotations

import abc
from typing import Any


class FeedUnavailable(Exception):
    """The feed cannot be subscribed to (its store is down); streams poll the row instead."""


class FeedSubscription(abc.ABC):
    @abc.abstractmethod
    async def next_event(self, timeout: float) -> dict[str, Any] | None:
        """The next event (`{"type": "video.progress" | "video.status", …}`), or None when
        `timeout` seconds passed without one."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop receiving; never raises, never waits long."""


class ProgressFeed(abc.ABC):
    @abc.abstractmethod
    async def subscribe(self, tenant_id: int, video_id: int) -> FeedSubscription:
        """Start receiving one video's events; FeedUnavailable when that cannot be done."""
