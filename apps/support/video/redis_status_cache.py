"""The video app's view of the Redis status keys (the module the design names).

The key formats, TTLs and the reads and writes on them live in one place,
`src/infrastructure/cache/redis_keys.py`; this module only re-exports them for Django code.
"""

from src.infrastructure.cache.redis_keys import (
    PROGRESS_TTL_SECONDS,
    delete_video_heartbeat,
    get_video_progress,
    has_video_heartbeat,
    heartbeat_key,
    progress_key,
    set_video_heartbeat,
    set_video_progress,
)

__all__ = [
    "PROGRESS_TTL_SECONDS",
    "delete_video_heartbeat",
    "get_video_progress",
    "has_video_heartbeat",
    "heartbeat_key",
    "progress_key",
    "set_video_heartbeat",
    "set_video_progress",
]
