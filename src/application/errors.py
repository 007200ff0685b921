"""Error codes shared by every layer: one enum, a human message, and whether a retry can help."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    UNSUPPORTED_MEDIA = "UNSUPPORTED_MEDIA"
    PROBE_FAILED = "PROBE_FAILED"
    INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
    DURATION_TOO_LONG = "DURATION_TOO_LONG"
    SOURCE_MISSING = "SOURCE_MISSING"
    TRANSCODE_FAILED = "TRANSCODE_FAILED"
    TRANSCODE_STALLED = "TRANSCODE_STALLED"
    STORAGE_FAILED = "STORAGE_FAILED"
    MAX_ATTEMPTS_EXCEEDED = "MAX_ATTEMPTS_EXCEEDED"
    VISIBILITY_CAP_REACHED = "VISIBILITY_CAP_REACHED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class VideoProcessingError(Exception):
    """A job failure with its error code; `retryable` says whether another attempt can help."""

    def __init__(self, code: ErrorCode | str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = ErrorCode(code)
        self.message = message
        self.retryable = retryable


class JobCancelled(Exception):
    """Raised inside a job when it must stop: cancel, lease lost or shutdown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
