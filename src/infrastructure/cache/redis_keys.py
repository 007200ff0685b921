"""Redis keys of a video's live status (contract keys and TTLs, docs/ARCHITECTURE.md): the
heartbeat and the progress record, and the reads and writes on them."""

from __future__ import annotations

import json
from typing import Any

import redis

from src.application.ports.progress import PROGRESS_TTL_SECONDS

# A video's jobs: the encoding's keys have no job segment (the original contract); the caption
# job's are `…:video:{id}:captions:progress` and `…:captions:heartbeat`.
VIDEO_JOB = ""
CAPTIONS_JOB = "captions"


def _job_prefix(tenant_id: int, video_id: int, job: str) -> str:
    base = f"tenant:{tenant_id}:video:{video_id}"
    return f"{base}:{job}" if job else base


def progress_key(tenant_id: int, video_id: int, job: str = VIDEO_JOB) -> str:
    return f"{_job_prefix(tenant_id, video_id, job)}:progress"


def heartbeat_key(tenant_id: int, video_id: int, job: str = VIDEO_JOB) -> str:
    return f"{_job_prefix(tenant_id, video_id, job)}:heartbeat"


def set_video_heartbeat(
    client: redis.Redis,
    tenant_id: int,
    video_id: int,
    worker_id: str,
    ttl: int,
    job: str = VIDEO_JOB,
) -> None:
    client.set(heartbeat_key(tenant_id, video_id, job), worker_id, ex=ttl)


def has_video_heartbeat(
    client: redis.Redis, tenant_id: int, video_id: int, job: str = VIDEO_JOB
) -> bool:
    return bool(client.exists(heartbeat_key(tenant_id, video_id, job)))


def delete_video_heartbeat(
    client: redis.Redis, tenant_id: int, video_id: int, job: str = VIDEO_JOB
) -> None:
    client.delete(heartbeat_key(tenant_id, video_id, job))


def set_video_progress(
    client: redis.Redis,
    tenant_id: int,
    video_id: int,
    record: dict[str, Any],
    heartbeat: tuple[str, int] | None = None,
    publish: tuple[str, str] | None = None,
    job: str = VIDEO_JOB,
) -> None:
    """Write progress and, in the same round trip, refresh the heartbeat (worker id, TTL) and
    publish the live event (channel, message)."""
    pipe = client.pipeline(transaction=False)
    pipe.set(progress_key(tenant_id, video_id, job), json.dumps(record), ex=PROGRESS_TTL_SECONDS)
    if heartbeat is not None:
        pipe.set(heartbeat_key(tenant_id, video_id, job), heartbeat[0], ex=heartbeat[1])
    if publish is not None:
        pipe.publish(*publish)
    pipe.execute()


def get_video_progress(
    client: redis.Redis, tenant_id: int, video_id: int, job: str = VIDEO_JOB
) -> dict[str, Any] | None:
    raw = client.get(progress_key(tenant_id, video_id, job))
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
