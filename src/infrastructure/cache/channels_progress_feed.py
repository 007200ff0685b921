"""ChannelsProgressFeed: a video's live events through Django Channels' Redis pub/sub layer.

channels-redis keeps one Redis subscription per group per process and hands each message to
every local follower, so 500 followers of 20 videos cost this process 20 subscriptions (plus
one per follower's own channel), not 500 connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from redis.exceptions import RedisError

from src.application.ports.progress_feed import FeedSubscription, FeedUnavailable, ProgressFeed
from src.infrastructure.cache.progress_events import events_group

# Subscribing waits this long for Redis at most: a stream then falls back to polling.
SUBSCRIBE_TIMEOUT_SECONDS = 2.0
# After a failed subscription, later ones fail at once for this long instead of each waiting
# on a dead server (and leaving the layer a half-made channel each).
UNAVAILABLE_FOR_SECONDS = 2.0
_FAILURES = (OSError, RedisError, TimeoutError)


class ChannelsSubscription(FeedSubscription):
    def __init__(self, layer: Any, group: str, channel: str) -> None:
        self.layer = layer
        self.group = group
        self.channel = channel
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # One receive() for the subscription's life: cancelling it makes channels-redis drop
        # the channel, so a timeout must never cancel it (next_event waits on our queue).
        self._pump = asyncio.ensure_future(self._receive())

    async def _receive(self) -> None:
        while True:
            self._events.put_nowait(await self.layer.receive(self.channel))

    async def next_event(self, timeout: float) -> dict[str, Any] | None:
        if self._pump.done() and self._events.empty():
            return None
        if not self._events.empty():  # the common case under load: no timer at all
            return self._events.get_nowait()
        try:
            async with asyncio.timeout(timeout):  # no task per event, unlike wait_for
                return await self._events.get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(BaseException):
            await self._pump
        with contextlib.suppress(*_FAILURES):
            await asyncio.wait_for(
                self.layer.group_discard(self.group, self.channel), SUBSCRIBE_TIMEOUT_SECONDS
            )


class ChannelsProgressFeed(ProgressFeed):
    def __init__(self, layer: Any, clock=time.monotonic) -> None:
        self.layer = layer
        self.clock = clock
        self._unavailable_until = 0.0

    async def subscribe(self, tenant_id: int, video_id: int) -> FeedSubscription:
        if self.clock() < self._unavailable_until:
            raise FeedUnavailable("redis was unavailable moments ago")
        group = events_group(tenant_id, video_id)
        subscription = None
        try:
            channel = await asyncio.wait_for(self.layer.new_channel(), SUBSCRIBE_TIMEOUT_SECONDS)
            subscription = ChannelsSubscription(self.layer, group, channel)
            await asyncio.wait_for(self.layer.group_add(group, channel), SUBSCRIBE_TIMEOUT_SECONDS)
        except _FAILURES as exc:
            self._unavailable_until = self.clock() + UNAVAILABLE_FOR_SECONDS
            if subscription is not None:
                await subscription.close()
            raise FeedUnavailable(f"redis unavailable: {type(exc).__name__}") from exc
        return subscription
