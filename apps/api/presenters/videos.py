"""Use-case results to response bodies: video views, upload instructions, asset URLs."""

from __future__ import annotations

import json
import posixpath
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.responses import NinjaJSONEncoder

from apps.api.live.tokens import issue_token
from apps.api.schemas.videos import VideoOut
from src.application.caption_tracks import default_track
from src.application.direct_upload import API_PUT, MULTIPART, UploadPlan
from src.application.domain import CaptionStatus, Cue
from src.application.hls_subtitles import track_label
from src.application.ports.captions import CaptionTrackRecord
from src.application.ports.transcript_search import CueHit
from src.application.ports.video_repository import VideoRecord, VideoStatus
from src.application.video_queries import Progress, row_progress

API_PREFIX = "/api/v1"
MEDIA_PREFIX = "/media/"


def video_path(video_id: int) -> str:
    return f"{API_PREFIX}/videos/{video_id}"


def asset_url(request: HttpRequest | None, key: str) -> str:
    """VIDEO_PUBLIC_BASE_URL + key when set (a CDN or bucket in front of the storage root),
    else this API's own /media/ route, which serves READY outputs only: on the host the
    request used, or (no request: a webhook payload) on VIDEO_API_BASE_URL."""
    base = settings.CONFIG.public_base_url
    if base:
        return f"{base}/{key}"
    if request is None:
        return f"{settings.CONFIG.webhooks.api_base_url}{MEDIA_PREFIX}{key}"
    return request.build_absolute_uri(f"{MEDIA_PREFIX}{key}")


def assets(request: HttpRequest | None, video: VideoRecord) -> dict[str, Any] | None:
    if video.status != VideoStatus.READY or not video.hls_key:
        return None
    return {
        "master_playlist_url": asset_url(request, video.hls_key),
        "thumbnail_url": asset_url(request, video.thumbnail_key) if video.thumbnail_key else None,
    }


def caption_url(request: HttpRequest | None, key: str) -> str | None:
    """Every caption URL (WebVTT file, subtitle playlist) is built here: a track's files lie
    under its video's published output, so they are served as the video's other assets."""
    return asset_url(request, key) if key else None


def caption_body(request: HttpRequest | None, track: CaptionTrackRecord) -> dict[str, Any]:
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
        "vtt_url": caption_url(request, track.vtt_key) if ready else None,
        "created_at": track.created_at,
    }


def published_body(
    request: HttpRequest, video: VideoRecord, tracks: list[CaptionTrackRecord] | None = None
) -> dict[str, Any]:
    """Every published URL of a READY video: master, thumbnail, one playlist per rendition,
    its caption tracks and the default one's WebVTT (`subtitle_url`); `published` false
    before READY."""
    links = assets(request, video)
    if links is None:
        return {"published": False, "video_id": video.id}
    tracks = tracks or []
    default = default_track(tracks)
    folder = posixpath.dirname(video.hls_key)
    renditions = []
    for rendition in video.renditions:
        playlist = rendition.get("playlist")
        renditions.append(
            {
                "name": str(rendition.get("name", "")),
                "width": rendition.get("width"),
                "height": rendition.get("height"),
                "bandwidth": rendition.get("bandwidth"),
                "playlist_url": asset_url(request, f"{folder}/{playlist}") if playlist else None,
            }
        )
    return {
        "published": True,
        "video_id": video.id,
        "video_url": links["master_playlist_url"],
        **links,
        "subtitle_url": caption_url(request, default.vtt_key) if default else None,
        "duration_sec": video.duration_seconds,
        "published_at": video.processing_completed_at,
        "captions": [caption_body(request, t) for t in tracks],
        "renditions": renditions,
    }


def video_body(
    request: HttpRequest | None, video: VideoRecord, progress: Progress
) -> dict[str, Any]:
    return {
        "id": video.id,
        "status": str(video.status),
        "title": video.title,
        "external_id": video.external_id or None,
        "metadata": video.metadata,
        "trace_id": video.trace_id,
        "progress": {
            "percent": progress.percent,
            "step": progress.step,
            "source": progress.source,
            "updated_at": progress.updated_at,
        },
        "attempts": video.attempts,
        "error": {"code": video.error_code, "message": video.error_message}
        if video.error_code
        else None,
        "timings_ms": video.stage_timings_ms,
        "duration_seconds": video.duration_seconds,
        "size_bytes": video.size_bytes,
        "width": video.width,
        "height": video.height,
        "renditions": video.renditions,
        "created_at": video.created_at,
        "updated_at": video.updated_at,
        "upload_expires_at": video.upload_expires_at,
        "uploaded_at": video.uploaded_at,
        "source_removed_at": video.source_removed_at,
        "processing_started_at": video.processing_started_at,
        "processing_completed_at": video.processing_completed_at,
        "assets": assets(request, video),
    }


def webhook_video(video: VideoRecord) -> dict[str, Any]:
    """A webhook payload's `data`: the body GET /api/v1/videos/{id} gives for the row as the
    change left it, serialised exactly as the API serialises it."""
    body = VideoOut.model_validate(video_body(None, video, row_progress(video))).model_dump()
    return json.loads(json.dumps(body, cls=NinjaJSONEncoder))


def upload_body(request: HttpRequest, video: VideoRecord, plan: UploadPlan) -> dict[str, Any]:
    complete_url = request.build_absolute_uri(f"{video_path(video.id)}/upload-complete")
    if plan.kind == API_PUT:
        return {
            "method": "PUT",
            "url": request.build_absolute_uri(f"{video_path(video.id)}/source"),
            "headers": {"Content-Type": "application/octet-stream"},
            "expires_at": plan.expires_at,
            "complete_url": complete_url,
        }
    if plan.kind == MULTIPART:
        return {
            "method": "PUT",
            "url": None,
            "headers": {},
            "expires_at": plan.expires_at,
            "part_size": plan.part_size,
            "parts": [{"part_number": n, "url": url} for n, url in enumerate(plan.part_urls, 1)],
            "complete_url": complete_url,
        }
    return {
        "method": "PUT",
        "url": plan.url,
        "headers": {},
        "expires_at": plan.expires_at,
        "complete_url": complete_url,
    }


def live_body(request: HttpRequest, video: VideoRecord) -> dict[str, Any]:
    """A fresh progress_token for `video` and where to use it (WebSocket or SSE)."""
    config = settings.CONFIG
    issued = issue_token(
        video.tenant_id, video.id, config.secret_key, config.progress_token_ttl_seconds
    )
    events = request.build_absolute_uri(f"{video_path(video.id)}/events")
    websocket = request.build_absolute_uri(f"/ws/v1/videos/{video.id}")
    websocket = "ws" + websocket.removeprefix("http")  # http -> ws, https -> wss
    return {
        "progress_token": issued.token,
        "progress_token_expires_at": issued.expires_at,
        "websocket_url": websocket,
        "events_url": events,
    }


def hit_body(hit: CueHit) -> dict[str, Any]:
    """One search hit; a title match has no times and no track."""
    return {
        "start": hit.start,
        "end": hit.end,
        "text": hit.text,
        "track": {"id": hit.track_id, "language": hit.language} if hit.track_id else None,
    }


def transcript_text(title: str, cues: list[Cue]) -> str:
    """The transcript as plain text for download: the title, then one timed line per cue."""
    lines = [title, ""] + [f"[{clock(c.start)}] {c.text}" for c in cues]
    return "\n".join(lines) + "\n"


def clock(seconds: float) -> str:
    """12.5 -> "0:12"; 3725 -> "1:02:05"."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
