"""RedisProgressAdapter: progress and heartbeat in Redis; errors become TelemetryUnavailable."""

from __future__ import annotations

import time
from typing import Any

import redis

from src.application.ports.progress import ProgressPort, TelemetryUnavailable, progress_record
from src.infrastructure.cache import progress_events
from src.infrastructure.cache import redis_keys as cache

# Redis is telemetry: a slow or absent server must never hold up a job for long.
SOCKET_TIMEOUT_SECONDS = 2.0
# A status announcement follows a database write on the job's own thread: it gets far less
# time than the ticker's writes, and after a failure none at all for a while (followers poll
# the row meanwhile, so nothing is lost by skipping).
ANNOUNCE_TIMEOUT_SECONDS = 0.25
ANNOUNCE_PAUSE_SECONDS = 10.0


def redis_client(url: str, timeout: float = SOCKET_TIMEOUT_SECONDS) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )


def _with_timeout(client: redis.Redis, timeout: float) -> redis.Redis:
    """A client on the same server with its own pool and shorter timeouts."""
    kwargs = dict(client.connection_pool.connection_kwargs)
    kwargs.update(socket_timeout=timeout, socket_connect_timeout=timeout)
    pool = redis.ConnectionPool(connection_class=client.connection_pool.connection_class, **kwargs)
    return redis.Redis(connection_pool=pool)


class RedisProgressAdapter(ProgressPort):
    def __init__(
        self,
        client: redis.Redis,
        heartbeat_ttl: int = 60,
        *,
        events_prefix: str = "academy-video",
        clock=time.monotonic,
        job: str = cache.VIDEO_JOB,
    ) -> None:
        """`job` names whose keys these are: a video's encoding ("") or its caption job."""
        self.client = client
        self.job = job
        self.events_prefix = events_prefix
        self.heartbeat_ttl = heartbeat_ttl
        self.announcer = _with_timeout(client, ANNOUNCE_TIMEOUT_SECONDS)
        self.clock = clock
        self._announce_paused_until = 0.0

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
        channel = progress_events.events_channel(self.events_prefix, tenant_id, video_id)
        event = (
            progress_events.captions_event(record)
            if self.job == cache.CAPTIONS_JOB
            else progress_events.progress_event(record)
        )
        self._call(
            cache.set_video_progress,
            tenant_id,
            video_id,
            record,
            (worker_id, self.heartbeat_ttl),
            (channel, event),
            self.job,
        )

    def set_heartbeat(self, tenant_id: int, video_id: int, worker_id: str) -> None:
        self._call(
            cache.set_video_heartbeat, tenant_id, video_id, worker_id, self.heartbeat_ttl, self.job
        )

    def has_heartbeat(self, tenant_id: int, video_id: int) -> bool:
        return bool(self._call(cache.has_video_heartbeat, tenant_id, video_id, self.job))

    def delete_heartbeat(self, tenant_id: int, video_id: int) -> None:
        self._call(cache.delete_video_heartbeat, tenant_id, video_id, self.job)

    def get_progress(self, tenant_id: int, video_id: int) -> dict[str, Any] | None:
        return self._call(cache.get_video_progress, tenant_id, video_id, self.job)

    def publish_status(self, tenant_id: int, video_id: int, status: str) -> None:
        if self.clock() < self._announce_paused_until:
            return
        try:
            self.announcer.publish(
                progress_events.events_channel(self.events_prefix, tenant_id, video_id),
                progress_events.status_event(status),
            )
        except (redis.RedisError, OSError):
            self._announce_paused_until = self.clock() + ANNOUNCE_PAUSE_SECONDS
