"""The playable URLs of a video, for whoever asks: built from its playback id only.

Every URL is `/media/{playback_id}/{file}` on this API (playlists are always served here:
they are rewritten per viewer). A signed video's URLs carry `?token=` (minted here, valid for
VIDEO_PLAYBACK_TOKEN_TTL_SECONDS unless said otherwise); a public video's carry nothing.
Without a request (a webhook payload) only public videos get URLs, on VIDEO_API_BASE_URL.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest

from src.application.caption_tracks import default_track
from src.application.domain import CaptionStatus, PlaybackPolicy, VideoStatus
from src.application.hls_subtitles import track_label
from src.application.ports.captions import CaptionTrackRecord
from src.application.ports.video_repository import VideoRecord
from src.infrastructure.playback.tokens import (
    AUDIENCE_THUMBNAIL,
    AUDIENCE_VIDEO,
    Minted,
    mint,
    server_key,
)

MEDIA_PREFIX = "/media/"


@lru_cache(maxsize=4)
def _server_key(secret_key: str) -> bytes:
    return server_key(secret_key)


def api_token_key() -> bytes:
    """The HS256 key of the API's own playback tokens."""
    return _server_key(settings.CONFIG.secret_key)


def mint_token(
    video: VideoRecord, audience: str, ttl_seconds: int | None = None, viewer: str | None = None
) -> Minted:
    ttl = ttl_seconds or settings.CONFIG.playback.token_ttl_seconds
    return mint(video.playback_id, audience, ttl, api_token_key(), viewer=viewer)


def media_base(request: HttpRequest | None, playback_id: str) -> str:
    path = f"{MEDIA_PREFIX}{playback_id}/"
    if request is None:
        return f"{settings.CONFIG.webhooks.api_base_url}{path}"
    return request.build_absolute_uri(path)


def playable(video: VideoRecord) -> bool:
    return video.status == VideoStatus.READY and bool(video.hls_key) and bool(video.playback_id)


def with_token(url: str, token: str | None) -> str:
    return f"{url}?token={quote(token, safe='')}" if token else url


@dataclass(frozen=True)
class Links:
    """A READY video's URLs for one caller (tokens included when it is signed)."""

    base: str
    master: str
    thumbnail: str | None
    video_token: Minted | None
    thumbnail_token: Minted | None

    def file(self, relative: str) -> str:
        return with_token(f"{self.base}{relative}", self.video_token and self.video_token.token)


def links_for(
    request: HttpRequest | None,
    video: VideoRecord,
    ttl_seconds: int | None = None,
    viewer: str | None = None,
) -> Links | None:
    """The URLs that play `video`; None until it is READY, and for a signed video when there
    is no caller to mint a token for (webhook payloads)."""
    if not playable(video):
        return None
    signed = video.playback_policy == PlaybackPolicy.SIGNED
    if signed and request is None:
        return None
    base = media_base(request, video.playback_id)
    video_token = mint_token(video, AUDIENCE_VIDEO, ttl_seconds, viewer) if signed else None
    thumbnail_token = None
    thumbnail = None
    if video.thumbnail_key:
        if signed:
            thumbnail_token = mint_token(video, AUDIENCE_THUMBNAIL, ttl_seconds, viewer)
        thumbnail = with_token(
            f"{base}{posixpath.basename(video.thumbnail_key)}",
            thumbnail_token and thumbnail_token.token,
        )
    master = with_token(
        f"{base}{posixpath.basename(video.hls_key)}", video_token and video_token.token
    )
    return Links(base, master, thumbnail, video_token, thumbnail_token)


def assets(request: HttpRequest | None, video: VideoRecord) -> dict[str, Any] | None:
    links = links_for(request, video)
    if links is None:
        return None
    expires: datetime | None = links.video_token.expires_at if links.video_token else None
    return {
        "master_playlist_url": links.master,
        "thumbnail_url": links.thumbnail,
        "expires_at": expires,
    }


def caption_url(links: Links | None, video: VideoRecord, key: str) -> str | None:
    """A caption file's playable URL: a track's files lie under its video's published output
    (captions/{track}/...), so they are served, tokened and refused as its other files."""
    folder = posixpath.dirname(video.hls_key)
    if links is None or not key or not key.startswith(f"{folder}/"):
        return None
    return links.file(key[len(folder) + 1 :])


def caption_body(
    links: Links | None, video: VideoRecord, track: CaptionTrackRecord
) -> dict[str, Any]:
    ready = track.status == CaptionStatus.READY
    return {
        "id": track.id,
        "language": track.language,
        "label": track_label(track),
        "kind": str(track.kind),
        "status": str(track.status),
        "error": (
            {"code": track.error_code, "message": track.error_message} if track.error_code else None
        ),
        "vtt_url": caption_url(links, video, track.vtt_key) if ready else None,
        "created_at": track.created_at,
    }


def caption_bodies(
    request: HttpRequest, video: VideoRecord, tracks: list[CaptionTrackRecord]
) -> list[dict[str, Any]]:
    """The tracks as the caption API lists them, URLs playable for this caller."""
    links = links_for(request, video)
    return [caption_body(links, video, track) for track in tracks]


def published_body(
    request: HttpRequest, video: VideoRecord, tracks: list[CaptionTrackRecord] | None = None
) -> dict[str, Any]:
    """Every playable URL of a READY video: master (`video_url`), thumbnail, one playlist per
    rendition, its caption tracks and the default one's WebVTT (`subtitle_url`);
    `{"published": false}` before READY."""
    links = links_for(request, video)
    if links is None:
        return {"published": False, "video_id": video.id}
    tracks = tracks or []
    default = default_track(tracks)
    renditions = []
    for rendition in video.renditions:
        playlist = rendition.get("playlist")
        renditions.append(
            {
                "name": str(rendition.get("name", "")),
                "width": rendition.get("width"),
                "height": rendition.get("height"),
                "bandwidth": rendition.get("bandwidth"),
                "playlist_url": links.file(playlist) if playlist else None,
            }
        )
    return {
        "published": True,
        "video_id": video.id,
        "playback_id": video.playback_id,
        "playback_policy": str(video.playback_policy),
        "video_url": links.master,
        "master_playlist_url": links.master,
        "subtitle_url": caption_url(links, video, default.vtt_key) if default else None,
        "thumbnail_url": links.thumbnail,
        "expires_at": links.video_token.expires_at if links.video_token else None,
        "duration_sec": video.duration_seconds,
        "published_at": video.processing_completed_at,
        "captions": [caption_body(links, video, track) for track in tracks],
        "renditions": renditions,
    }
