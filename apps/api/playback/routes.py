"""/api/v1: playback tokens for a video, rotating its playback id, and signing keys."""

from __future__ import annotations

import structlog
from django.http import HttpRequest, HttpResponse
from ninja import Path, Router

from academy.current import use_cases
from apps.api.playback import signing_keys
from apps.api.playback.links import links_for, mint_token
from apps.api.playback.schemas import (
    CreatedSigningKeyOut,
    PlaybackTokenIn,
    PlaybackTokenOut,
    SigningKeyListOut,
)
from apps.api.presenters.videos import video_body
from apps.api.routers.videos import ERRORS, VideoId
from apps.api.schemas.videos import VideoOut
from src.application.video_errors import InvalidVideoState
from src.application.video_queries import row_progress
from src.infrastructure.playback.tokens import AUDIENCE_THUMBNAIL

router = Router(tags=["playback"])
log = structlog.get_logger("apps.api")

SigningKeyId = Path(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


@router.post(
    "/videos/{video_id}/playback-tokens",
    response={201: PlaybackTokenOut, **ERRORS},
    summary="A playback token (JWT) and the URLs it opens (409 until the video is READY)",
)
def create_playback_token(
    request: HttpRequest,
    response: HttpResponse,
    payload: PlaybackTokenIn | None = None,
    video_id: int = VideoId,
):
    """`master_playlist_url` plays in any HLS player as it is: every playlist it leads to is
    rewritten to carry the token. A public video needs no token; one is issued anyway (it
    keeps working if the video becomes signed)."""
    asked = payload or PlaybackTokenIn()
    video = use_cases().queries.get(request.auth.tenant_id, video_id).video
    links = links_for(request, video, asked.ttl_seconds, asked.viewer)
    if links is None:
        raise InvalidVideoState(f"video {video_id} is {video.status}: nothing can be played yet")
    minted = links.thumbnail_token if asked.audience == AUDIENCE_THUMBNAIL else links.video_token
    minted = minted or mint_token(video, asked.audience, asked.ttl_seconds, asked.viewer)
    log.info(
        "PLAYBACK_TOKEN_ISSUED",
        video_id=video.id,
        audience=asked.audience,
        ttl_seconds=asked.ttl_seconds,
        viewer=asked.viewer,
    )
    response["Cache-Control"] = "no-store"
    return 201, {
        "token": minted.token,
        "expires_at": minted.expires_at,
        "master_playlist_url": links.master,
        "thumbnail_url": links.thumbnail,
    }


@router.post(
    "/videos/{video_id}/playback-id/rotate",
    response={200: VideoOut, **ERRORS},
    summary="A new playback id: every URL and token made for the old one stops working",
)
def rotate_playback_id(request: HttpRequest, video_id: int = VideoId):
    video = use_cases().playback.rotate(request.auth.tenant_id, video_id)
    structlog.contextvars.bind_contextvars(video_id=video.id)
    log.info("VIDEO_PLAYBACK_ID_ROTATED", video_id=video.id)
    return 200, video_body(request, video, row_progress(video))


@router.post(
    "/signing-keys",
    response={201: CreatedSigningKeyOut, **ERRORS},
    summary="A new RS256 signing key; its private key is in this response only",
)
def create_signing_key(request: HttpRequest, response: HttpResponse):
    created = signing_keys.create_key(request.auth.tenant_id)
    log.info("PLAYBACK_SIGNING_KEY_CREATED", signing_key_id=created.row.pk)
    response["Location"] = f"/api/v1/signing-keys/{created.row.pk}"
    response["Cache-Control"] = "no-store"
    return 201, {
        "id": created.row.pk,
        "created_at": created.row.created_at,
        "private_key": created.private_key_pem,
    }


@router.get("/signing-keys", response={200: SigningKeyListOut, **ERRORS}, summary="Active keys")
def list_signing_keys(request: HttpRequest):
    rows = signing_keys.active_keys(request.auth.tenant_id).order_by("-created_at")
    return 200, {"items": [{"id": r.pk, "created_at": r.created_at} for r in rows]}


@router.delete(
    "/signing-keys/{key_id}",
    response={204: None, **ERRORS},
    summary="Revoke a key: tokens it signed are refused from the next request on",
)
def revoke_signing_key(request: HttpRequest, key_id: str = SigningKeyId):
    row = signing_keys.revoke_key(request.auth.tenant_id, key_id)
    log.info("PLAYBACK_SIGNING_KEY_REVOKED", signing_key_id=row.pk)
    return 204, None
