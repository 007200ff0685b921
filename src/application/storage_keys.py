"""Storage keys (docs/ARCHITECTURE.md, "Storage keys"): a video's source under its ids, and
each claim's output under an opaque `media/{video folder}/{claim folder}/` prefix derived from
the video's secret media salt. No user string enters a key unsanitised;
src/infrastructure/storage/keys.py checks every key an adapter is given."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

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


# Published files live here: the only keys a CDN may read, and none names an id.
MEDIA_ROOT = "media"
MEDIA_SALT_BYTES = 32
_MEDIA_SALT = re.compile(r"^[0-9a-f]{64}$")
VIDEO_FOLDER_CHARS = 32  # 128 bits
CLAIM_FOLDER_CHARS = 20  # 80 bits: one video's claims never collide


def new_media_salt() -> str:
    """A video's own secret (64 hex characters): its output folders are derived from it.
    It is never shown by any API, page, webhook or log: without it nobody can tell which
    video (or tenant, or claim) a published folder belongs to."""
    return secrets.token_hex(MEDIA_SALT_BYTES)


def _keyed(media_salt: str, message: str) -> str:
    if not isinstance(media_salt, str) or not _MEDIA_SALT.match(media_salt):
        raise ValueError("a media salt is 64 lowercase hex characters")
    key = bytes.fromhex(media_salt)
    return hmac.new(key, message.encode("ascii"), hashlib.sha256).hexdigest()


def media_video_prefix(media_salt: str) -> str:
    """`media/{video folder}`: every claim's output of one video lies below it."""
    return f"{MEDIA_ROOT}/{_keyed(media_salt, 'video')[:VIDEO_FOLDER_CHARS]}"


def claim_folder(media_salt: str, lease_token: int) -> str:
    """The folder name of one claim's output below the video's folder."""
    return _keyed(media_salt, f"claim:{_id(lease_token)}")[:CLAIM_FOLDER_CHARS]


def job_output_prefix(media_salt: str, lease_token: int) -> str:
    """Each claim writes under its own prefix, so a worker that lost its lease never
    overwrites what the row points to; the row's hls_key names the winner's playlist.

    `media/{HMAC-SHA256(salt, "video")[:32]}/{HMAC-SHA256(salt, "claim:{token}")[:20]}`:
    deterministic (cleanup recomputes the live claim's folder, the fence), and without the
    salt no folder can be linked to a tenant, a video or a claim number."""
    return f"{media_video_prefix(media_salt)}/{claim_folder(media_salt, lease_token)}"


def is_media_key(key: str) -> bool:
    """Whether `key` lies in the opaque layout (so it may appear in a public URL)."""
    return key.startswith(f"{MEDIA_ROOT}/")


def legacy_output_root(tenant_id: int, video_id: int) -> str:
    """`tenants/{t}/videos/{v}/hls/`: where claims wrote before the opaque layout. Rows
    published there keep being served (from their hls_key) and cleaned up."""
    return f"{video_prefix(tenant_id, video_id)}/hls/"
