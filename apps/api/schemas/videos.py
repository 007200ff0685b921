"""The API's request and response shapes (OpenAPI is generated from them)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

from src.application.domain import ErrorCode, PlaybackPolicy, VideoStatus
from src.application.domain.display_text import display_text_problem

MAX_METADATA_BYTES = 16 * 1024  # metadata is the producer's own small record, not a payload
MAX_ID = 2**63 - 1  # PostgreSQL bigint


def _storable(value: Any, where: str) -> None:
    """PostgreSQL stores no NUL character and UTF-8 has no unpaired surrogate: refuse both
    (in metadata, keys and values at any depth) instead of failing at the database."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where} must not contain NUL (\\u0000) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where} must be valid Unicode (no unpaired surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, where)
            _storable(item, where)
    elif isinstance(value, list):
        for item in value:
            _storable(item, where)


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class CreateVideoIn(StrictSchema):
    title: str = Field(min_length=1, max_length=300)
    playback_policy: PlaybackPolicy | None = Field(
        default=None,
        description="signed: playback needs a token; public: anyone with the URL "
        "(default: VIDEO_DEFAULT_PLAYBACK_POLICY)",
    )
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] | None = None
    size_bytes: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the source's size; S3 uses it to plan parts"
    )
    filename: str | None = Field(default=None, min_length=1, max_length=255)
    language: str | None = Field(
        default=None,
        max_length=16,
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="the language its automatic captions are transcribed in (en, pt-BR); "
        "default VIDEO_CAPTIONS_LANGUAGE",
    )

    @field_validator("title", "external_id", "filename", "metadata")
    @classmethod
    def _text_storable(cls, value: Any, info) -> Any:
        _storable(value, info.field_name)
        return value

    @field_validator("title", "external_id")
    @classmethod
    def _displayable(cls, value: str | None, info) -> str | None:
        if value is None:
            return value
        problem = display_text_problem(value)
        if problem:
            raise ValueError(f"{info.field_name} {problem}")
        return value

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value.strip()

    @field_validator("metadata")
    @classmethod
    def _metadata_small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return value


class UpdateVideoIn(StrictSchema):
    playback_policy: PlaybackPolicy


class PartIn(StrictSchema):
    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200)


class CompleteUploadIn(StrictSchema):
    parts: list[PartIn] | None = Field(
        default=None,
        max_length=10_000,
        description="S3 multipart: each part's ETag; omitted, every stored part is used",
    )


class UploadPartOut(Schema):
    part_number: int
    url: str


class UploadOut(Schema):
    method: str
    url: str | None
    headers: dict[str, str]
    expires_at: datetime | None
    part_size: int | None = None
    parts: list[UploadPartOut] | None = None
    complete_url: str


class ErrorOut(Schema):
    code: ErrorCode
    message: str


class ProgressOut(Schema):
    percent: float
    step: str
    source: str = Field(description="redis: the worker's live record; database: the row alone")
    updated_at: str | None = None


class AssetsOut(Schema):
    master_playlist_url: str
    thumbnail_url: str | None
    # When the URLs' token expires (a signed video); null for a public video.
    expires_at: datetime | None = None


class RenditionAssetOut(Schema):
    name: str
    width: int | None
    height: int | None
    bandwidth: int | None
    playlist_url: str | None


class CaptionErrorOut(Schema):
    code: str
    message: str


class CaptionTrackOut(Schema):
    id: int
    language: str
    label: str
    kind: str = Field(description="auto (transcribed) or uploaded")
    status: str = Field(description="QUEUED, PROCESSING, READY, FAILED, CANCELED or SKIPPED")
    error: CaptionErrorOut | None
    vtt_url: str | None = Field(description="the whole track as one WebVTT file, once READY")
    created_at: datetime | None


class CaptionUploadIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(
        min_length=2,
        max_length=16,
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="a language code: en, pt-BR",
    )
    label: str | None = Field(default=None, max_length=100, pattern=r"^[^\x00-\x1f]*$")


class CaptionListOut(Schema):
    items: list[CaptionTrackOut]


class PublishedAssetsOut(Schema):
    published: bool = Field(description="false until the video is READY (no other field then)")
    video_id: int
    playback_id: str | None = None
    playback_policy: PlaybackPolicy | None = None
    video_url: str | None = Field(default=None, description="the master playlist")
    master_playlist_url: str | None = None
    subtitle_url: str | None = Field(
        default=None, description="the default caption track's WebVTT file; null when none"
    )
    thumbnail_url: str | None = None
    expires_at: datetime | None = Field(
        default=None, description="when the URLs' token ends (signed videos); null when public"
    )
    duration_sec: float | None = None
    published_at: datetime | None = None
    captions: list[CaptionTrackOut] = Field(default_factory=list)
    renditions: list[RenditionAssetOut] = Field(default_factory=list)


class RenditionOut(Schema):
    """One rung of the HLS ladder as the worker published it."""

    name: str = Field(description="e.g. 720p")
    width: int | None = None
    height: int | None = None
    bandwidth: int | None = Field(default=None, description="peak bits per second (HLS)")
    average_bandwidth: int | None = None
    playlist: str | None = Field(default=None, description="its playlist, beside the master")
    video: str | None = Field(default=None, description="copy (passthrough) or libx264")
    crf: float | None = Field(
        default=None, description="x264's constant-quality factor; may be fractional (23.5)"
    )
    maxrate_kbps: int | None = None
    maxrate_capped_from_kbps: int | None = None
    audio_bitrate_kbps: int | None = None
    audio_playlist: str | None = None
    passthrough: bool | None = None
    passthrough_reason: str | None = None


class VideoOut(Schema):
    id: int
    status: VideoStatus
    title: str
    external_id: str | None
    metadata: dict[str, Any]
    trace_id: str
    progress: ProgressOut
    attempts: int
    error: ErrorOut | None
    timings_ms: dict[str, int]
    duration_seconds: float | None
    size_bytes: int | None
    width: int | None
    height: int | None
    renditions: list[RenditionOut]
    created_at: datetime | None
    updated_at: datetime | None
    upload_expires_at: datetime | None
    uploaded_at: datetime | None
    # Set when cleanup removed the uploaded source (VIDEO_SOURCE_RETENTION_DAYS after READY).
    source_removed_at: datetime | None
    processing_started_at: datetime | None
    processing_completed_at: datetime | None
    playback_id: str
    playback_policy: PlaybackPolicy
    assets: AssetsOut | None


class LiveOut(Schema):
    """How to follow the video live (browsers: the token; servers may send their API key)."""

    progress_token: str
    progress_token_expires_at: datetime
    websocket_url: str
    events_url: str


class FollowedVideoOut(VideoOut):
    progress_token: str
    live: LiveOut


class CreatedVideoOut(VideoOut):
    upload: UploadOut


class HitTrackOut(Schema):
    id: int
    language: str


class HitOut(Schema):
    start: float | None = Field(description="seconds into the video; none for a title match")
    end: float | None
    text: str = Field(description="the cue that matched (the title for a title match)")
    track: HitTrackOut | None


class VideoListItemOut(VideoOut):
    hits: list[HitOut] | None = Field(
        default=None, description="with q: up to 5 matches, best first (none without q)"
    )


class VideoListOut(Schema):
    items: list[VideoListItemOut]
    next_cursor: str | None


class TranscriptCueOut(Schema):
    start: float
    end: float
    text: str


class TranscriptOut(Schema):
    video_id: int
    track: CaptionTrackOut
    cues: list[TranscriptCueOut]


class FieldErrorOut(Schema):
    field: str
    message: str
    type: str


class ProblemOut(Schema):
    """RFC 9457 problem details, the body of every 4xx and 5xx (`application/problem+json`)."""

    type: str = Field(description="/api/v1/problems/{code}: what the code means")
    title: str
    status: int
    detail: str
    code: ErrorCode
    trace_id: str
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="each field that is not valid (422 VALIDATION_FAILED)"
    )
