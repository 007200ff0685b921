"""Trace ids: the caller's W3C `traceparent`, else its `X-Request-ID`, else a new one.

The id is returned in the `X-Trace-Id` header and in every problem body, stored on the videos a
request creates, sent with their job messages (attribute `trace_id`) and bound to every log
line of the request and of the worker's job: one grep follows an upload end to end.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from src.application.messages import MAX_TRACE_ID_LENGTH

RESPONSE_HEADER = "X-Trace-Id"

# version-traceid-parentid-flags; an all-zero trace id is invalid (W3C Trace Context).
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# Request ids are echoed into logs and headers: only characters that cannot break either.
_REQUEST_ID = re.compile(rf"^[A-Za-z0-9._:@/+=-]{{1,{MAX_TRACE_ID_LENGTH}}}$")


def trace_id_from(headers: Mapping[str, str]) -> str:
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    request_id = headers.get("X-Request-ID", "").strip()
    if _REQUEST_ID.match(request_id):
        return request_id
    return uuid.uuid4().hex
