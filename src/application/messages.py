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


# Ids are PostgreSQL bigints: a larger number would fail the lookup, not find no row.
MAX_ID = 2**63 - 1


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
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise MessageRejected(f"{name} must be a positive integer (at most {MAX_ID})")
    return value


def parse_job_message(body: str, trace_id: str = "") -> JobMessage:
    """The job a body names; MessageRejected for any body that is not one, whatever is wrong."""
    try:
        return _parse(body, trace_id)
    except MessageRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - no body may escape as anything but a rejection
        raise MessageRejected(f"body cannot be read as a job ({type(exc).__name__})") from None


def _parse(body: str, trace_id: str) -> JobMessage:
    if len(body) > 4096:
        raise MessageRejected("body is larger than 4096 bytes")
    try:
        data = json.loads(body)
    except RecursionError:  # [[[[…]]]] nested deeper than the parser goes
        raise MessageRejected("body is nested too deeply to be a job") from None
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
