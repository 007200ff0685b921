"""Storage keys (docs/ARCHITECTURE.md, "Storage keys"): a video's source, and each claim's
output under its own `hls/{lease_token}/` prefix. No user string enters a key unsanitised;
src/infrastructure/storage/keys.py checks every key an adapter is given."""

from __future__ import annotations

import re

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 100


def _id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"ids in storage keys must be positive integers, got {value!r}")
    return value


def safe_filename(name: str) -> str:
    """A user-supplied file name reduced to [A-Za-z0-9._-], no leading dots, never empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE.sub("_", base).lstrip(".")[-MAX_NAME:]
    return cleaned or "upload"


def video_prefix(tenant_id: int, video_id: int) -> str:
    return f"tenants/{_id(tenant_id)}/videos/{_id(video_id)}"


def source_key(tenant_id: int, video_id: int, filename: str) -> str:
    return f"{video_prefix(tenant_id, video_id)}/source/{safe_filename(filename)}"


def job_output_prefix(tenant_id: int, video_id: int, lease_token: int) -> str:
    """Each claim writes under its own prefix, so a worker that lost its lease never
    overwrites what the row points to; the row's hls_key names the winner's playlist."""
    return f"{video_prefix(tenant_id, video_id)}/hls/{_id(lease_token)}"
