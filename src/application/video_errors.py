"""What a request about a video can run into; each carries its ErrorCode (the HTTP layer maps
the class to a status, the use cases never see HTTP)."""

from __future__ import annotations

from src.application.domain import ErrorCode


class VideoRequestError(Exception):
    code: ErrorCode = ErrorCode.VALIDATION_FAILED

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class VideoNotFound(VideoRequestError):
    """No such video for this tenant (another tenant's video is not found either)."""

    code = ErrorCode.NOT_FOUND


class InvalidVideoState(VideoRequestError):
    """The video's status does not allow the request (cancel a READY video, upload twice…)."""

    code = ErrorCode.INVALID_STATE


class UploadIncomplete(VideoRequestError):
    """The source the request needs is missing, empty, of the wrong size, or expired."""

    code = ErrorCode.UPLOAD_NOT_FOUND


class SourceTooLarge(VideoRequestError):
    """More bytes than VIDEO_MAX_SOURCE_BYTES or than the size declared at creation."""

    code = ErrorCode.INPUT_TOO_LARGE


class InvalidVideoRequest(VideoRequestError):
    """A value the schema cannot catch: a cursor that is not ours, a size needing too many parts."""

    code = ErrorCode.VALIDATION_FAILED
