"""RedisProgressAdapter: progress and heartbeat in Redis; errors become TelemetryUnavailable."""

from __future__ import annotations

from typing import Any

import redis

from src.application.ports.progress import ProgressPort, TelemetryUnavailable, progress_record
from src.infrastructure.cache import redis_keys as cache

# Redis is telemetry: a slow or absent server must never hold up a job for long.
SOCKET_TIMEOUT_SECONDS = 2.0


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


class RedisProgressAdapter(ProgressPort):
    def __init__(self, client: redis.Redis, heartbeat_ttl: int = 60) -> None:
        self.client = client
        self.heartbeat_ttl = heartbeat_ttl

    def _call(self, fn, *args):
        try:
            return fn(self.client, *args)
        except (redis.RedisError, OSError) as exc:
            raise TelemetryUnavailable(f"redis unavailable: {type(exc).__name__}") from exc

    def ping(self) -> None:
        self._call(lambda client: client.ping())

    def record_progress(
        self,
        tenant_id: int,
        video_id: int,
        percent: float,
        step: str,
        worker_id: str,
        trace_id: str = "",
    ) -> None:
        record = progress_record(percent, step, worker_id, trace_id)
        self._call(
            cache.set_video_progress, tenant_id, video_id, record, (worker_id, self.heartbeat_ttl)
        )

    def set_heartbeat(self, tenant_id: int, video_id: int, worker_id: str) -> None:
        self._call(cache.set_video_heartbeat, tenant_id, video_id, worker_id, self.heartbeat_ttl)

    def has_heartbeat(self, tenant_id: int, video_id: int) -> bool:
        return bool(self._call(cache.has_video_heartbeat, tenant_id, video_id))

    def delete_heartbeat(self, tenant_id: int, video_id: int) -> None:
        self._call(cache.delete_video_heartbeat, tenant_id, video_id)

    def get_progress(self, tenant_id: int, video_id: int) -> dict[str, Any] | None:
        return self._call(cache.get_video_progress, tenant_id, video_id)
