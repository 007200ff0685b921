"""Who may watch a video: its playback id and its playback policy."""

from __future__ import annotations

import enum
import re
import secrets

# 24 URL-safe characters: 144 random bits, far past guessing (at least 128 are required).
PLAYBACK_ID_BYTES = 18
PLAYBACK_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{24}$")


class PlaybackPolicy(enum.StrEnum):
    """`signed`: every playback URL needs a token; `public`: anyone with the URL may watch."""

    SIGNED = "signed"
    PUBLIC = "public"


def new_playback_id() -> str:
    """An unguessable, URL-safe id naming a video in every public URL."""
    return secrets.token_urlsafe(PLAYBACK_ID_BYTES)


def is_playback_id(value: str) -> bool:
    """Whether `value` has the shape of a playback id (the check before any lookup)."""
    return bool(PLAYBACK_ID_PATTERN.match(value))
