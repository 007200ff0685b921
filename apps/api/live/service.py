"""The live-progress use case of this process (from the composition root), on Channels' layer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from academy.current import use_cases
from apps.api.live.access import api_key_from, not_found, tenant_allowed
from apps.api.schemas.videos import MAX_ID
from src.application.live_progress import FollowVideo, LiveEvent
from src.application.video_errors import VideoNotFound

T = TypeVar("T")

_built: tuple[object, object, FollowVideo] | None = None


async def run_blocking(fn: Callable[[], T]) -> T:
    """Database work off the event loop, on Channels' database thread (which closes stale
    connections around each call)."""
    return await database_sync_to_async(fn)()


def follow_video() -> FollowVideo:
    """Built once per process (rebuilt when tests swap the use cases or the layer)."""
    global _built
    cases, layer = use_cases(), get_channel_layer()
    if _built is None or _built[0] is not cases or _built[1] is not layer:
        follow = cases.follow_video(layer, run_blocking=run_blocking)
        _built = (cases, layer, follow)
    return _built[2]


@dataclass
class OpenedStream:
    tenant_id: int
    first: LiveEvent  # `connected`
    events: AsyncIterator[LiveEvent]  # the rest; aclose() it when the client goes


async def open_stream(video_id: int, token: str, headers: Mapping[str, str]) -> OpenedStream:
    """Check the credential and the video, subscribe, and read the first event; raises
    StreamRefused (apps/api/live/access.py) with the reason. `headers` in lower case."""
    if video_id > MAX_ID:
        raise not_found(video_id)
    tenant_id = await run_blocking(lambda: tenant_allowed(video_id, token, api_key_from(headers)))
    events = follow_video().follow(tenant_id, video_id)
    try:
        first = await anext(events)
    except VideoNotFound:
        raise not_found(video_id) from None
    return OpenedStream(tenant_id, first, events)
