"""The job message contract: {"video_id": int, "tenant_id": int, "request_id": str}."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

# A trace id is a correlation key, not data: every log line, re-sent message and upload keeps
# at most this much of one, so a huge message attribute cannot flood the logs.
MAX_TRACE_ID_LENGTH = 128


def bounded_trace_id(value: str | None) -> str:
    """The trace id as every layer uses it: at most MAX_TRACE_ID_LENGTH characters."""
    return (value or "")[:MAX_TRACE_ID_LENGTH]


class MessageRejected(Exception):
    """The body cannot be a job: it is logged and deleted, never retried."""


@dataclass(frozen=True)
class JobMessage:
    video_id: int
    tenant_id: int
    request_id: str
    trace_id: str = ""


def _positive_int(data: dict, name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MessageRejected(f"{name} must be a positive integer")
    return value


def parse_job_message(body: str, trace_id: str = "") -> JobMessage:
    if len(body) > 4096:
        raise MessageRejected("body is larger than 4096 bytes")
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        raise MessageRejected("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MessageRejected("body is not a JSON object")
    request_id = data.get("request_id") or str(uuid.uuid4())
    if not isinstance(request_id, str) or len(request_id) > 128:
        raise MessageRejected("request_id must be a string of at most 128 characters")
    return JobMessage(
        video_id=_positive_int(data, "video_id"),
        tenant_id=_positive_int(data, "tenant_id"),
        request_id=request_id,
        trace_id=bounded_trace_id(trace_id),
    )
