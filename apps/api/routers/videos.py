"""/api/v1/videos: create (JSON: direct upload; multipart: one-request upload), send the bytes,
confirm the upload, read one video, list them.

Every POST here takes an Idempotency-Key (apps/api/keys/idempotency.py, claimed at authentication
and stored by PerKeyMiddleware); nothing in the handlers depends on being called once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router
from ninja.errors import ValidationError

from academy.current import use_cases
from apps.api.http import json_limits, multipart
from apps.api.http.bodies import JSON, json_body, unacceptable, validate
from apps.api.http.errors import UnsupportedContentType
from apps.api.keys import idempotency
from apps.api.keys.auth import API_KEY_AUTH
from apps.api.keys.upload_urls import UploadSignature
from apps.api.openapi import component, nested_components, ref
from apps.api.playback.links import published_body
from apps.api.presenters.videos import (
    hit_body,
    live_body,
    upload_body,
    video_body,
    video_path,
)
from apps.api.schemas.videos import (
    MAX_ID,
    CompleteUploadIn,
    CreatedVideoOut,
    CreateVideoIn,
    FollowedVideoOut,
    ProblemOut,
    PublishedAssetsOut,
    UpdateVideoIn,
    VideoListOut,
    VideoOut,
)
from apps.web.session_auth import SessionKey
from src.application.domain import PlaybackPolicy
from src.application.ports.transcript_search import MAX_QUERY_LENGTH
from src.application.ports.video_repository import VideoRecord, VideoStatus
from src.application.video_queries import MAX_PAGE, row_progress

router = Router(tags=["videos"])
log = structlog.get_logger("apps.api")

VideoId = Path(..., ge=1, le=MAX_ID, description="the video's id")
# The errors a video route sends besides those every route can (apps/api/openapi.py).
ERRORS = {
    400: ProblemOut,
    404: ProblemOut,
    409: ProblemOut,
    413: ProblemOut,
    415: ProblemOut,
    422: ProblemOut,
}
IDEMPOTENT = {"parameters": [idempotency.OPENAPI_PARAMETER]}
MULTIPART = multipart.MULTIPART
# Query text goes into SQL parameters: PostgreSQL refuses NUL characters in them.
NO_NUL = r"^[^\x00]*$"
FORM_FIELDS = {"title", "external_id", "metadata", "language", "playback_policy"}
CREATE_FORM = "CreateVideoForm"
REPLAYS = (
    "With an `Idempotency-Key`, a retry gets the first response again: the same status and "
    "body, marked `Idempotent-Replayed: true`."
)
# Request bodies these routes read themselves, named for the schema's components.
COMPONENTS = {
    CreateVideoIn.__name__: component(CreateVideoIn),
    **nested_components(CreateVideoIn),
    CompleteUploadIn.__name__: component(CompleteUploadIn),
    **nested_components(CompleteUploadIn),
    CREATE_FORM: {
        "title": CREATE_FORM,
        "type": "object",
        "required": ["file", "title"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "external_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "metadata": {"type": "string", "description": "a JSON object"},
            "language": {
                "type": "string",
                "maxLength": 16,
                "pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
            },
            "playback_policy": ref(PlaybackPolicy.__name__),
        },
    },
}

# One content type per operation: generated clients that see two set a multipart Content-Type
# without its boundary (openapi-python-client issue 947), so the one-request upload is its own
# operation, POST /videos/upload. POST /videos still reads a multipart body the same way.
CREATE_REQUEST_BODY = {
    **IDEMPOTENT,
    "requestBody": {"required": True, "content": {JSON: {"schema": ref(CreateVideoIn)}}},
}
UPLOAD_REQUEST_BODY = {
    **IDEMPOTENT,
    "requestBody": {"required": True, "content": {MULTIPART: {"schema": ref(CREATE_FORM)}}},
}
# No body is the normal call (file storage, or S3 with every stored part): not required, and
# never `null`, which generated clients cannot send.
COMPLETE_REQUEST_BODY = {
    **IDEMPOTENT,
    "requestBody": {"required": False, "content": {JSON: {"schema": ref(CompleteUploadIn)}}},
}


def _bind_video(request: HttpRequest, video: VideoRecord) -> None:
    """Every later log line of this request names the video and the trace id it was created
    under: one grep of that id finds the upload, the completion and the worker's job."""
    structlog.contextvars.bind_contextvars(video_id=video.id, video_trace_id=video.trace_id)


@router.post(
    "/videos",
    response={201: CreatedVideoOut, 202: VideoOut, **ERRORS},
    description=f"{REPLAYS} A `{MULTIPART}` body is read as POST /videos/upload reads it (202).",
    summary="Create a video and get its upload instructions",
    openapi_extra=CREATE_REQUEST_BODY,
)
def create_video(request: HttpRequest, response: HttpResponse):
    if request.content_type == MULTIPART:
        return _upload_in_one_request(request, response)
    if request.content_type != JSON:
        raise UnsupportedContentType(
            f"POST /videos takes {JSON} or {MULTIPART}, not {request.content_type or 'untyped'}"
        )
    body = json_body(request, CreateVideoIn)
    created = use_cases().uploads.create(
        request.auth.tenant_id,
        body.title,
        external_id=body.external_id or "",
        metadata=body.metadata,
        trace_id=request.trace_id,
        size_bytes=body.size_bytes,
        filename=body.filename or "source",
        language=body.language or "",
        playback_policy=_policy(body.playback_policy),
    )
    video = created.video
    _bind_video(request, video)
    log.info("VIDEO_CREATED", video_id=video.id, upload=created.upload.kind)
    response["Location"] = video_path(video.id)
    return 201, {
        **video_body(request, video, row_progress(video)),
        "upload": upload_body(request, video, created.upload),
    }


@router.post(
    "/videos/upload",
    response={202: VideoOut, **ERRORS},
    description=REPLAYS,
    summary="Create a video and upload its source in one multipart/form-data request",
    openapi_extra=UPLOAD_REQUEST_BODY,
)
def upload_video(request: HttpRequest, response: HttpResponse):
    if request.content_type != MULTIPART:
        raise UnsupportedContentType(
            f"POST /videos/upload takes {MULTIPART}, not {request.content_type or 'untyped'}"
        )
    return _upload_in_one_request(request, response)


def _upload_in_one_request(request: HttpRequest, response: HttpResponse):
    multipart.parse(request, use_cases().config.max_source_bytes)
    unknown = sorted(set(request.POST) - FORM_FIELDS) + sorted(set(request.FILES) - {"file"})
    fields: dict[str, Any] = {k: request.POST[k] for k in FORM_FIELDS & set(request.POST)}
    if "metadata" in fields:
        try:
            fields["metadata"] = json_limits.loads(fields["metadata"])
        except json_limits.UnacceptableJson as exc:
            raise unacceptable(exc, "form", "metadata") from None
        except json.JSONDecodeError:
            fields["metadata"] = "not JSON"  # the schema reports it as a field error
    data = {**fields, **{name: "" for name in unknown}}
    form = validate(CreateVideoIn, data, where="form")
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationError(
            [{"loc": ("form", "file"), "msg": "a file is required", "type": "missing"}]
        )
    with upload:
        completed = use_cases().uploads.upload_in_one_request(
            request.auth.tenant_id,
            form.title,
            upload.file,
            filename=upload.name or "source",
            external_id=form.external_id or "",
            metadata=form.metadata,
            trace_id=request.trace_id,
            language=form.language or "",
            playback_policy=_policy(form.playback_policy),
        )
    return _accepted(request, response, completed)


def _policy(asked: PlaybackPolicy | None) -> PlaybackPolicy:
    return asked or use_cases().config.playback.default_policy


def _accepted(request: HttpRequest, response: HttpResponse, completed) -> tuple[int, dict]:
    video = completed.video
    _bind_video(request, video)
    if completed.enqueued:
        log.info("VIDEO_UPLOADED", video_id=video.id, message_id=completed.message_id)
    else:
        log.error("VIDEO_ENQUEUE_FAILED", video_id=video.id, error=completed.enqueue_error)
    response["Location"] = video_path(video.id)
    return 202, video_body(request, video, row_progress(video))


@router.put(
    "/videos/{video_id}/source",
    response={200: VideoOut, **ERRORS},
    summary="Send the source's bytes (file storage): streamed to storage, at most the size "
    "declared at creation",
    description="Use `upload.url` as given: its `signature` stands in for the API key until "
    "`upload.expires_at`.",
    auth=[UploadSignature(), *API_KEY_AUTH, SessionKey()],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def upload_source(request: HttpRequest, video_id: int = VideoId):
    length = request.META.get("CONTENT_LENGTH")
    video = use_cases().uploads.receive_source(
        request.auth.tenant_id,
        video_id,
        request,
        int(length) if length and length.isdigit() else None,
    )
    _bind_video(request, video)
    log.info("VIDEO_SOURCE_RECEIVED", video_id=video.id)
    view = use_cases().queries.get(request.auth.tenant_id, video_id)
    return 200, video_body(request, view.video, view.progress)


@router.post(
    "/videos/{video_id}/upload-complete",
    response={202: VideoOut, **ERRORS},
    summary="Confirm the upload: checks the stored source, then queues the video",
    description=REPLAYS,
    openapi_extra=COMPLETE_REQUEST_BODY,
)
def complete_upload(request: HttpRequest, response: HttpResponse, video_id: int = VideoId):
    payload = json_body(request, CompleteUploadIn) if request.body else None
    parts = [(p.part_number, p.etag) for p in payload.parts] if payload and payload.parts else None
    completed = use_cases().uploads.complete(request.auth.tenant_id, video_id, parts=parts)
    return _accepted(request, response, completed)


@router.get(
    "/videos/{video_id}",
    response={200: FollowedVideoOut, **ERRORS},
    summary="One video, with a progress_token to follow it live (WebSocket or SSE)",
)
def get_video(request: HttpRequest, video_id: int = VideoId):
    """`progress_token` (also in `live`, with the stream URLs) opens
    `/ws/v1/videos/{id}?token=…` or `/api/v1/videos/{id}/events?token=…` for
    VIDEO_PROGRESS_TOKEN_TTL_SECONDS; it is checked when the stream opens."""
    view = use_cases().queries.get(request.auth.tenant_id, video_id)
    _bind_video(request, view.video)
    live = live_body(request, view.video)
    return 200, {
        **video_body(request, view.video, view.progress),
        "progress_token": live["progress_token"],
        "live": live,
    }


@router.patch(
    "/videos/{video_id}",
    response={200: VideoOut, **ERRORS},
    summary="Change the playback policy (signed or public); effective for the next request",
)
def update_video(request: HttpRequest, payload: UpdateVideoIn, video_id: int = VideoId):
    video = use_cases().playback.set_policy(
        request.auth.tenant_id, video_id, payload.playback_policy
    )
    _bind_video(request, video)
    log.info("VIDEO_PLAYBACK_POLICY_CHANGED", video_id=video.id, policy=str(video.playback_policy))
    return 200, video_body(request, video, row_progress(video))


@router.get("/videos", response={200: VideoListOut, **ERRORS}, summary="The tenant's videos")
def list_videos(
    request: HttpRequest,
    status: VideoStatus | None = None,
    external_id: str | None = Query(None, min_length=1, max_length=200, pattern=NO_NUL),
    created_after: datetime | None = None,
    cursor: str | None = Query(None, max_length=64, pattern=NO_NUL),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    q: str | None = Query(
        None,
        max_length=MAX_QUERY_LENGTH,
        pattern=NO_NUL,
        description="words said in the video (any READY caption track) or in its title",
    ),
):
    """Newest first. `next_cursor` fetches the next page; pages never shift under inserts.
    With `q`: the videos whose title or a transcript has every word, title matches first, then
    by how often and how well the transcripts say them; each item's `hits` says where."""
    queries = use_cases().queries
    page = queries.list(
        request.auth.tenant_id,
        limit=limit,
        cursor=cursor,
        status=status,
        external_id=external_id,
        created_after=_in_utc(created_after) if created_after else None,
        q=q,
    )
    items = []
    for video in page.videos:
        body = video_body(request, video, queries.live_progress(video))
        if page.hits is not None:
            body["hits"] = [hit_body(h) for h in page.hits.get(video.id, [])]
        items.append(body)
    return 200, {"items": items, "next_cursor": page.next_cursor}


def _in_utc(moment: datetime) -> datetime:
    """A time in UTC (none given: UTC); one that has no UTC equivalent is a field error."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            [
                {
                    "loc": ("query", "created_after"),
                    "msg": "the time is outside the range that can be expressed in UTC",
                    "type": "datetime_range",
                }
            ]
        ) from None


@router.post(
    "/videos/{video_id}/cancel",
    response={200: VideoOut, **ERRORS},
    summary="Cancel: AWAITING_UPLOAD, UPLOADED or PROCESSING -> CANCELED (409 for READY/FAILED)",
    description=REPLAYS,
    openapi_extra=IDEMPOTENT,
)
def cancel_video(request: HttpRequest, video_id: int = VideoId):
    cases = use_cases()
    video = cases.commands.cancel(request.auth.tenant_id, video_id)
    _bind_video(request, video)
    log.info("VIDEO_CANCEL_REQUESTED", video_id=video.id)
    return 200, video_body(request, video, row_progress(video))


@router.post(
    "/videos/{video_id}/retry",
    response={202: VideoOut, **ERRORS},
    summary="Retry: FAILED or CANCELED -> UPLOADED with attempts reset, queued again",
    description=REPLAYS,
    openapi_extra=IDEMPOTENT,
)
def retry_video(request: HttpRequest, response: HttpResponse, video_id: int = VideoId):
    retried = use_cases().commands.retry(
        request.auth.tenant_id, video_id, trace_id=request.trace_id
    )
    return _accepted(request, response, retried)


@router.delete(
    "/videos/{video_id}",
    response={204: None, **ERRORS},
    summary="Delete: cancels if needed, removes source, outputs and row (idempotent)",
)
def delete_video(request: HttpRequest, video_id: int = VideoId):
    deleted = use_cases().commands.delete(request.auth.tenant_id, video_id)
    structlog.contextvars.bind_contextvars(video_id=video_id)
    log.info("VIDEO_DELETED" if deleted else "VIDEO_DELETE_NOTHING", video_id=video_id)
    return 204, None


@router.get(
    "/videos/{video_id}/assets/published",
    response={200: PublishedAssetsOut, **ERRORS},
    exclude_unset=True,  # before READY the body is {"published": false, "video_id"} alone
    summary="The published assets: `published` false until READY, then the master, the "
    "captions (`subtitle_url`: the default track's WebVTT), thumbnail and renditions",
)
def get_published_assets(request: HttpRequest, video_id: int = VideoId):
    cases = use_cases()
    view = cases.queries.get(request.auth.tenant_id, video_id)
    _bind_video(request, view.video)
    tracks = cases.captions.list(request.auth.tenant_id, video_id) if cases.captions else []
    return 200, published_body(request, view.video, tracks)
