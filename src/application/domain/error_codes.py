"""Error codes: one enum, each code with its human description and whether a retry can help.

A new code is one line below. No other module spells a code as a string literal.
"""

from __future__ import annotations

import enum

from src.application.domain.redaction import redact_url_credentials


class ErrorCode(enum.StrEnum):
    # name = (value, retryable by default, what it means to the academy)
    UNSUPPORTED_MEDIA = ("UNSUPPORTED_MEDIA", False, "the upload is not a video format we accept")
    PROBE_FAILED = ("PROBE_FAILED", False, "the upload could not be read as a video")
    INPUT_TOO_LARGE = ("INPUT_TOO_LARGE", False, "the upload is larger than the limits allow")
    DURATION_TOO_LONG = ("DURATION_TOO_LONG", False, "the upload is longer than the limit allows")
    IMPLAUSIBLE_DURATION = (
        "IMPLAUSIBLE_DURATION",
        False,
        "the upload declares a duration its data cannot fill",
    )
    SOURCE_MISSING = ("SOURCE_MISSING", False, "the uploaded file is missing from storage")
    TRANSCODE_FAILED = ("TRANSCODE_FAILED", False, "the video could not be converted")
    TRANSCODE_STALLED = ("TRANSCODE_STALLED", True, "the conversion stopped making progress")
    STORAGE_FAILED = ("STORAGE_FAILED", True, "storing or fetching media failed")
    # Retried without counting the attempt: nothing is wrong with the upload.
    NO_SPACE_LEFT = ("NO_SPACE_LEFT", True, "a worker's disk or the media storage was full")
    MAX_ATTEMPTS_EXCEEDED = ("MAX_ATTEMPTS_EXCEEDED", False, "every allowed attempt failed")
    VISIBILITY_CAP_REACHED = (
        "VISIBILITY_CAP_REACHED",
        True,
        "the job outlived the queue's 12-hour limit",
    )
    INTERNAL_ERROR = ("INTERNAL_ERROR", True, "an unexpected error in the pipeline")
    # Caption jobs (docs/ARCHITECTURE.md, "Captions").
    NO_AUDIO = ("NO_AUDIO", False, "the video has no audio stream to transcribe")
    NO_SPEECH = ("NO_SPEECH", False, "no speech was heard in the audio")
    TRANSCRIBE_FAILED = ("TRANSCRIBE_FAILED", False, "the audio could not be transcribed")
    CAPTION_INVALID = ("CAPTION_INVALID", False, "the caption file is not valid SRT or WebVTT")
    # The HTTP API's problem codes (the same enum: one place for every code).
    VALIDATION_FAILED = ("VALIDATION_FAILED", False, "a field or parameter is not valid")
    MALFORMED_REQUEST = ("MALFORMED_REQUEST", False, "the body is not UTF-8 JSON")
    UNSUPPORTED_CONTENT_TYPE = (
        "UNSUPPORTED_CONTENT_TYPE",
        False,
        "the body's Content-Type is not one the route accepts",
    )
    PAYLOAD_TOO_LARGE = ("PAYLOAD_TOO_LARGE", False, "the request body is larger than allowed")
    UNAUTHENTICATED = ("UNAUTHENTICATED", False, "the API key is missing, invalid or revoked")
    FORBIDDEN = ("FORBIDDEN", False, "the credential does not cover this resource")
    NOT_FOUND = ("NOT_FOUND", False, "no such resource for this tenant")
    PLAYBACK_DENIED = (
        "PLAYBACK_DENIED",
        False,
        "the playback URL is not valid now: ask the academy for a new one",
    )
    METHOD_NOT_ALLOWED = ("METHOD_NOT_ALLOWED", False, "the route does not take this method")
    INVALID_STATE = ("INVALID_STATE", False, "the video's status does not allow the request")
    UPLOAD_NOT_FOUND = (
        "UPLOAD_NOT_FOUND",
        False,
        "the source is missing, empty, not the declared size, or its upload expired",
    )
    UPLOAD_EXPIRED = (
        "UPLOAD_EXPIRED",
        False,
        "the upload was not completed within VIDEO_UPLOAD_TTL_SECONDS",
    )
    SERVICE_UNAVAILABLE = ("SERVICE_UNAVAILABLE", True, "a service the API needs is unavailable")
    RATE_LIMITED = ("RATE_LIMITED", True, "the API key sent more requests than its limit allows")
    IDEMPOTENCY_KEY_INVALID = (
        "IDEMPOTENCY_KEY_INVALID",
        False,
        "the Idempotency-Key header is not 1-255 printable ASCII characters",
    )
    IDEMPOTENCY_KEY_IN_USE = (
        "IDEMPOTENCY_KEY_IN_USE",
        True,
        "a request with this Idempotency-Key is still being processed",
    )
    IDEMPOTENCY_KEY_REUSED = (
        "IDEMPOTENCY_KEY_REUSED",
        False,
        "this Idempotency-Key was used with a different request",
    )

    def __new__(cls, value: str, retryable: bool, description: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.retryable = retryable
        member.description = description
        return member


class VideoProcessingError(Exception):
    """A job failure: its code, a human message, and whether another attempt can help.

    `retryable` defaults to the code's own; a caller that knows better (ffprobe killed by a
    signal, an encode that ran out of memory) says so.
    """

    def __init__(self, code: ErrorCode | str, message: str, *, retryable: bool | None = None):
        message = redact_url_credentials(message)  # it is logged and stored on the row
        self.code = ErrorCode(code)
        super().__init__(f"{self.code}: {message}")
        self.message = message
        self.retryable = self.code.retryable if retryable is None else retryable
