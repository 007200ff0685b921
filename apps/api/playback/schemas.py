"""Request and response shapes of the playback routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from academy.config import MAX_PLAYBACK_TOKEN_SECONDS
from apps.api.schemas.videos import StrictSchema


class PlaybackTokenIn(StrictSchema):
    ttl_seconds: int | None = Field(
        default=None,
        ge=30,
        le=MAX_PLAYBACK_TOKEN_SECONDS,
        description="the token's lifetime (default: VIDEO_PLAYBACK_TOKEN_TTL_SECONDS)",
    )
    audience: Literal["v", "t"] = Field(
        default="v", description="v: playlists, segments and captions; t: the thumbnail"
    )
    viewer: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[!-~ ]+$",
        description="who watches (your own id for them): logged with each access",
    )


class PlaybackTokenOut(Schema):
    token: str
    expires_at: datetime
    master_playlist_url: str
    thumbnail_url: str | None


class SigningKeyOut(Schema):
    id: str
    created_at: datetime


class CreatedSigningKeyOut(SigningKeyOut):
    private_key: str = Field(description="PEM (PKCS#8): shown in this response only")


class SigningKeyListOut(Schema):
    items: list[SigningKeyOut]
