"""/api/v1/videos/{id}/captions: a video's caption tracks; upload (SRT or WebVTT, multipart)
adds or replaces a language's track, DELETE removes one."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router
from ninja.errors import ValidationError

from academy.current import use_cases
from apps.api.http import multipart
from apps.api.http.bodies import validate
from apps.api.http.errors import UnsupportedContentType
from apps.api.keys import idempotency
from apps.api.openapi import ref
from apps.api.playback.links import caption_bodies
from apps.api.presenters.videos import transcript_text
from apps.api.routers.videos import ERRORS, VideoId
from apps.api.schemas.videos import (
    MAX_ID,
    CaptionListOut,
    CaptionTrackOut,
    CaptionUploadIn,
    TranscriptOut,
)
from src.application.caption_tracks import LANGUAGE_PATTERN

router = Router(tags=["captions"])

TrackId = Path(..., ge=1, le=MAX_ID, description="the caption track's id")
FORM_FIELDS = {"language", "label"}
UPLOAD_FORM = "CaptionUploadForm"
# The multipart body, named for the schema's components (api.py registers COMPONENTS).
COMPONENTS = {
    UPLOAD_FORM: {
        "title": UPLOAD_FORM,
        "type": "object",
        "required": ["file", "language"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "language": {"type": "string", "minLength": 2, "maxLength": 16},
            "label": {"type": "string", "maxLength": 100},
        },
    }
}
UPLOAD_BODY = {
    "parameters": [idempotency.OPENAPI_PARAMETER],
    "requestBody": {
        "required": True,
        "content": {multipart.MULTIPART: {"schema": ref(UPLOAD_FORM)}},
    },
}


@router.get(
    "/videos/{video_id}/captions",
    response={200: CaptionListOut, **ERRORS},
    summary="The video's caption tracks, automatic and uploaded",
)
def list_captions(request: HttpRequest, video_id: int = VideoId):
    cases = use_cases()
    video = cases.queries.get(request.auth.tenant_id, video_id).video
    tracks = cases.captions.list(request.auth.tenant_id, video_id)
    return 200, {"items": caption_bodies(request, video, tracks)}


@router.post(
    "/videos/{video_id}/captions",
    response={201: CaptionTrackOut, **ERRORS},
    summary="Add or replace a language's uploaded track (multipart: file SRT or WebVTT, "
    "language, label)",
    openapi_extra=UPLOAD_BODY,
)
def upload_captions(request: HttpRequest, video_id: int = VideoId):
    if request.content_type != multipart.MULTIPART:
        raise UnsupportedContentType(
            f"POST /captions takes {multipart.MULTIPART}, not {request.content_type or 'untyped'}"
        )
    cases = use_cases()
    multipart.parse(
        request, cases.config.captions.max_upload_bytes, "VIDEO_CAPTIONS_MAX_UPLOAD_BYTES"
    )
    unknown = sorted(set(request.POST) - FORM_FIELDS) + sorted(set(request.FILES) - {"file"})
    fields = {k: request.POST[k] for k in FORM_FIELDS & set(request.POST)}
    form = validate(CaptionUploadIn, {**fields, **{n: "" for n in unknown}}, where="form")
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationError(
            [{"loc": ("form", "file"), "msg": "a file is required", "type": "missing"}]
        )
    with upload:
        track = cases.captions.upload(
            request.auth.tenant_id, video_id, upload.file, form.language, form.label or ""
        )
    video = cases.queries.get(request.auth.tenant_id, video_id).video
    return 201, caption_bodies(request, video, [track])[0]


@router.delete(
    "/videos/{video_id}/captions/{caption_id}",
    response={204: None, **ERRORS},
    summary="Delete a caption track (an automatic one being made is canceled)",
)
def delete_caption(request: HttpRequest, video_id: int = VideoId, caption_id: int = TrackId):
    use_cases().captions.delete(request.auth.tenant_id, video_id, caption_id)
    return 204, None


@router.get(
    "/videos/{video_id}/transcript",
    response={200: TranscriptOut, **ERRORS},
    summary="The video's transcript: the cues of a READY caption track",
)
def video_transcript(
    request: HttpRequest,
    video_id: int = VideoId,
    language: str | None = Query(None, min_length=2, max_length=16, pattern=LANGUAGE_PATTERN),
    format: Literal["json", "txt"] = Query("json", description="txt: plain text to download"),
):
    """The default track (an upload before an automatic one), or the one in `language`."""
    video, track, cues = use_cases().captions.transcript(request.auth.tenant_id, video_id, language)
    if format == "txt":
        response = HttpResponse(
            transcript_text(video.title, cues), content_type="text/plain; charset=utf-8"
        )
        name = f"video-{video.id}-{track.language or 'captions'}.txt"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return 200, {
        "video_id": video.id,
        "track": caption_bodies(request, video, [track])[0],
        "cues": [c.to_dict() for c in cues],
    }
