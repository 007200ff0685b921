"""Use-case results to response bodies: video views, upload instructions, live links.

Playable URLs come from apps/api/playback/links.py (playback ids and tokens)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.responses import NinjaJSONEncoder

from apps.api.keys import upload_urls
from apps.api.live.tokens import issue_token
from apps.api.playback.links import assets, caption_body, links_for
from apps.api.schemas.videos import VideoOut
from apps.api.schemas.webhooks import CaptionEventVideoOut
from src.application.direct_upload import API_PUT, MULTIPART, UploadPlan
from src.application.domain import Cue
from src.application.ports.captions import CaptionTrackRecord
from src.application.ports.transcript_search import CueHit
from src.application.ports.video_repository import VideoRecord
from src.application.video_queries import Progress, row_progress

API_PREFIX = "/api/v1"


def video_path(video_id: int) -> str:
    return f"{API_PREFIX}/videos/{video_id}"


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
        "playback_id": video.playback_id,
        "playback_policy": str(video.playback_policy),
        "assets": assets(request, video),
    }


def webhook_video(video: VideoRecord, track: CaptionTrackRecord | None = None) -> dict[str, Any]:
    """A webhook payload's `data`: the body GET /api/v1/videos/{id} gives for the row as the
    change left it, serialised exactly as the API serialises it. It names the playback id and
    policy; `assets` URLs only for a public video (a payload is stored and resent: no token).
    A caption event's adds `track`: the track as the caption list shows it (its `vtt_url`
    likewise only for a public video)."""
    body = video_body(None, video, row_progress(video))
    if track is None:
        out = VideoOut.model_validate(body)
    else:
        body["track"] = caption_body(links_for(None, video), video, track)
        out = CaptionEventVideoOut.model_validate(body)
    return json.loads(json.dumps(out.model_dump(), cls=NinjaJSONEncoder))


def upload_body(request: HttpRequest, video: VideoRecord, plan: UploadPlan) -> dict[str, Any]:
    complete_url = request.build_absolute_uri(f"{video_path(video.id)}/upload-complete")
    if plan.kind == API_PUT:
        expires_at = plan.expires_at or datetime.now(UTC) + timedelta(
            seconds=settings.CONFIG.upload_ttl_seconds
        )
        signature = upload_urls.sign(video.tenant_id, video.id, expires_at)
        return {
            "method": "PUT",
            "url": request.build_absolute_uri(
                f"{video_path(video.id)}/source?{upload_urls.PARAM}={signature}"
            ),
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
        video.tenant_id,
        video.id,
        request.auth.key_id,
        config.secret_key,
        config.progress_token_ttl_seconds,
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
