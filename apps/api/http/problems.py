"""RFC 9457 problem details: every 4xx/5xx of the API is `application/problem+json` with
`type`, `title`, `status`, `detail`, `code` (an ErrorCode), `trace_id`, and `errors[]` for
field problems. Nothing else (no HTML page, no traceback) ever reaches a client."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

from src.application.domain import ErrorCode

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "/api/v1/problems/"


def title(code: ErrorCode) -> str:
    """The code's short human title, the same for every occurrence (RFC 9457 section 3.1.3)."""
    return code.description[:1].upper() + code.description[1:]


# The code a bare HTTP status stands for when nothing more precise is known.
STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.MALFORMED_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.INVALID_STATE,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_CONTENT_TYPE,
    422: ErrorCode.VALIDATION_FAILED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def code_for_status(status: int) -> ErrorCode:
    if status in STATUS_CODES:
        return STATUS_CODES[status]
    return ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.VALIDATION_FAILED


def problem_body(
    status: int,
    code: ErrorCode,
    detail: str,
    *,
    trace_id: str = "",
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{code}",
        "title": title(code),
        "status": status,
        "detail": detail,
        "code": str(code),
        "trace_id": trace_id,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return body


def problem(
    request: HttpRequest | None,
    status: int,
    code: ErrorCode,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HttpResponse:
    trace_id = getattr(request, "trace_id", "") if request is not None else ""
    body = problem_body(status, code, detail, trace_id=trace_id, errors=errors, **extra)
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def is_problem(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith(CONTENT_TYPE)
