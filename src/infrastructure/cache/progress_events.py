"""Live progress events on Redis pub/sub: where they go and what they look like.

The worker publishes each progress record (in the same round trip as the progress key) and a
status announcement after each write that changed a video's status. The API's WebSocket and
SSE streams receive them through Django Channels' Redis pub/sub layer (channels-redis), which
names a group's Redis channel `<prefix>__group__<group>` and, configured with the JSON
serializer, reads plain JSON objects from it. Publishing there directly keeps the worker free
of an event loop and of Channels; tests/integration/live checks the two ends meet.

The progress key stays the truth: a lost event costs a follower nothing but a moment, since
streams read the key and the row again whenever they have heard nothing for a while.
"""

from __future__ import annotations

import json
from typing import Any

# Channels message types: the stream tells them apart by `type`.
PROGRESS_EVENT = "video.progress"
STATUS_EVENT = "video.status"
CAPTIONS_EVENT = "video.captions"


def events_group(tenant_id: int, video_id: int) -> str:
    """The Channels group of one video's followers (letters, digits and dots only)."""
    return f"tenant.{int(tenant_id)}.video.{int(video_id)}"


def events_channel(prefix: str, tenant_id: int, video_id: int) -> str:
    """The Redis channel channels-redis subscribes to for that group, under the channel
    layer's prefix (VIDEO_LIVE_CHANNEL_PREFIX, also in settings.CHANNEL_LAYERS)."""
    return f"{prefix}__group__{events_group(tenant_id, video_id)}"


def progress_event(record: dict[str, Any]) -> str:
    """A progress record (percent, step, updated_at) as a Channels message."""
    return json.dumps(
        {
            "type": PROGRESS_EVENT,
            "percent": record.get("percent"),
            "step": record.get("step"),
            "updated_at": record.get("updated_at"),
        }
    )


def status_event(status: str) -> str:
    return json.dumps({"type": STATUS_EVENT, "status": str(status)})


def captions_event(record: dict[str, Any]) -> str:
    """A caption job's progress record (percent, step) as a Channels message."""
    return json.dumps(
        {
            "type": CAPTIONS_EVENT,
            "percent": record.get("percent"),
            "step": record.get("step"),
            "updated_at": record.get("updated_at"),
        }
    )
