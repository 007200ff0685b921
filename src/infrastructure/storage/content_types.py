"""The Content-Type players expect for each media file name (S3 metadata, the /media/ route)."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".json": "application/json",
    ".vtt": "text/vtt",
}


def content_type(name: str) -> str:
    """The Content-Type for a media file name; application/octet-stream when unknown."""
    suffix = PurePosixPath(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
