"""Exceptions to problem responses: one table for the ninja handlers and the middleware."""

from __future__ import annotations

import json
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.api.http.problems import code_for_status, problem
from apps.api.keys.idempotency import IdempotencyRefused, Replay
from apps.api.keys.rate_limits import RateLimited, headers
from src.application.caption_tracks import CaptionFileRejected
from src.application.domain import ErrorCode
from src.application.ports.storage import StorageError
from src.application.video_errors import (
    InvalidVideoRequest,
    InvalidVideoState,
    SourceTooLarge,
    UploadIncomplete,
    VideoNotFound,
    VideoRequestError,
)

log = structlog.get_logger("apps.api")

STATUS_OF: dict[type[VideoRequestError], int] = {
    VideoNotFound: 404,
    InvalidVideoState: 409,
    UploadIncomplete: 409,
    SourceTooLarge: 413,
    InvalidVideoRequest: 422,
    CaptionFileRejected: 422,
}


class UnsupportedContentType(Exception):
    """The body's Content-Type is not one the route accepts."""


class MalformedBody(Exception):
    """The body is not UTF-8 or not JSON."""


def field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as `{field, message, type}`: `field` is a dotted path like body.title."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("payload",)]
        out.append(
            {
                "field": ".".join(loc),
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def response_for_exception(request: HttpRequest, exc: Exception) -> HttpResponse:
    if isinstance(exc, Replay):
        return exc.response()
    if isinstance(exc, IdempotencyRefused):
        retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return problem(request, exc.status, ErrorCode(exc.code), exc.detail, headers=retry)
    if isinstance(exc, RateLimited):
        return problem(
            request, 429, ErrorCode.RATE_LIMITED, str(exc), headers=headers(exc.decision)
        )
    if isinstance(exc, VideoRequestError):
        status = next((STATUS_OF[c] for c in type(exc).__mro__ if c in STATUS_OF), 400)
        return problem(request, status, exc.code, exc.message)
    if isinstance(exc, ValidationError):
        errors = field_errors(exc.errors)
        detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
        return problem(request, 422, ErrorCode.VALIDATION_FAILED, detail, errors=errors)
    if isinstance(exc, AuthenticationError):
        reason = getattr(request, "auth_failure", "") or "no API key was given"
        return problem(
            request,
            401,
            ErrorCode.UNAUTHENTICATED,
            f"{reason}: send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    if isinstance(exc, HttpError):
        cause = exc.__cause__
        if isinstance(cause, UnsupportedContentType):
            return problem(request, 415, ErrorCode.UNSUPPORTED_CONTENT_TYPE, str(cause))
        if isinstance(cause, RequestDataTooBig):
            return too_large(request)
        if isinstance(
            cause, MalformedBody | MultiPartParserError | UnicodeDecodeError | json.JSONDecodeError
        ):
            return malformed(request, cause)
        return problem(request, exc.status_code, code_for_status(exc.status_code), str(exc))
    if isinstance(exc, UnsupportedContentType):
        return problem(request, 415, ErrorCode.UNSUPPORTED_CONTENT_TYPE, str(exc))
    if isinstance(exc, MalformedBody | MultiPartParserError):
        return malformed(request, exc)
    if isinstance(exc, RequestDataTooBig):
        return too_large(request)
    if isinstance(exc, Http404):
        return problem(request, 404, ErrorCode.NOT_FOUND, f"there is nothing at {request.path}")
    if isinstance(exc, PermissionDenied):
        return problem(request, 403, ErrorCode.UNAUTHENTICATED, "permission denied")
    if isinstance(exc, SuspiciousOperation):
        return problem(request, 400, ErrorCode.MALFORMED_REQUEST, "the request was refused")
    if isinstance(exc, StorageError | DatabaseError):
        log.error("API_DEPENDENCY_FAILED", error=f"{type(exc).__name__}: {exc}")
        return problem(
            request,
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "storage or the database is unavailable; retry later",
            headers={"Retry-After": "5"},
        )
    log.error("API_INTERNAL_ERROR", exc_info=exc, path=request.path)
    return problem(
        request,
        500,
        ErrorCode.INTERNAL_ERROR,
        "the server failed to handle the request; quote the trace_id when reporting it",
    )


def malformed(request: HttpRequest, cause: Exception) -> HttpResponse:
    if isinstance(cause, UnicodeDecodeError):
        detail = "the body is not valid UTF-8"
    elif isinstance(cause, json.JSONDecodeError):
        detail = f"the body is not valid JSON ({cause.msg} at line {cause.lineno})"
    elif isinstance(cause, MultiPartParserError):
        detail = f"the multipart/form-data body cannot be read ({cause})"
    else:
        detail = str(cause)
    return problem(request, 400, ErrorCode.MALFORMED_REQUEST, detail)


def too_large(request: HttpRequest) -> HttpResponse:
    return problem(
        request, 413, ErrorCode.PAYLOAD_TOO_LARGE, "the request body is larger than allowed"
    )
