"""Idempotency-Key on every POST (IETF draft "The Idempotency-Key HTTP Header Field", with
Stripe's behaviour).

A key is scoped by tenant, key and route (method and path) and bound to a fingerprint of the
request (content type and body; a multipart upload by its fields and each file's SHA-256):

- first use: the request runs normally and its response is stored;
- a retry after it finished: the stored status and body are replayed with
  `Idempotent-Replayed: true` (a 201 Created or 202 Accepted replays as 200 OK: nothing new
  was created or accepted);
- a retry while the first is still running: 409 problem IDEMPOTENCY_KEY_IN_USE (Retry-After);
- the same key with another body or route input: 422 problem IDEMPOTENCY_KEY_REUSED;
- responses that did nothing are not stored, so the key can be used again: refused input
  (400, 413, 415, 422), rate limiting (429) and server errors (5xx).

The claim is a row insert under a unique constraint (the queries:
academy/adapters/db/django/idempotency_store.py): of two concurrent requests exactly one
inserts, on any number of API processes. Records are kept RETENTION (24 hours) and deleted by
the cleanup pass alone (reconcile's loop schedules it).
A claim whose request never finished (its process was killed) is given up after
IN_FLIGHT_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import structlog
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from academy.adapters.db.django import idempotency_store
from academy.adapters.db.django.idempotency_store import RETENTION
from apps.api.http import multipart
from apps.api.keys.api_keys import Principal
from apps.api.models import IdempotencyRecord

log = structlog.get_logger("apps.api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IN_FLIGHT_TIMEOUT = timedelta(hours=1)
IN_FLIGHT_RETRY_AFTER_SECONDS = 1
# Printable ASCII (a structured-field string carries no more), at most 255 characters.
_VALID_KEY = re.compile(r"[ -~]{1,255}")
# Statuses that mean "nothing was done; correct the request and send it again".
NOT_STORED = frozenset({400, 408, 413, 415, 422, 429})
REPLAYED_AS_OK = frozenset({201, 202})


# The header as documented on every POST operation of the OpenAPI schema.
OPENAPI_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": (
        "Makes the POST safe to retry: a retry replays the first response "
        "(`Idempotent-Replayed: true`); kept 24 hours"
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


class IdempotencyRefused(Exception):
    """The key cannot be used for this request (the status and code say why)."""

    def __init__(self, status: int, code: str, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


class Replay(Exception):
    """The key's first request finished: answer with its stored response."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__("replay")
        self.record = record

    def response(self) -> HttpResponse:
        record = self.record
        status = 200 if record.response_status in REPLAYED_AS_OK else record.response_status
        response = HttpResponse(
            bytes(record.response_body),
            status=status,
            content_type=record.response_content_type or "application/json",
        )
        if record.response_location:
            response["Location"] = record.response_location
        response[REPLAYED_HEADER] = "true"
        return response


def fingerprint(request: HttpRequest, max_source_bytes: int) -> str:
    """What makes two requests the same: content type (no parameters) and body; JSON by its
    parsed value (spacing and key order do not matter)."""
    sha = hashlib.sha256()
    content_type = request.content_type or ""
    sha.update(content_type.encode() + b"\0")
    if content_type == multipart.MULTIPART:
        handler = multipart.parse(request, max_source_bytes)
        fields = {name: request.POST.getlist(name) for name in sorted(request.POST)}
        files = {
            name: [upload.name, upload.size, handler.digests.get(name, "")]
            for name, upload in sorted(request.FILES.items())
        }
        sha.update(json.dumps([fields, files], sort_keys=True).encode())
        return sha.hexdigest()
    body = request.body
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        sha.update(b"json\0" + canonical.encode())
    except (ValueError, UnicodeDecodeError):
        sha.update(b"raw\0" + body)
    return sha.hexdigest()


def claim(request: HttpRequest, principal: Principal, max_source_bytes: int) -> None:
    """For a POST with an Idempotency-Key: claim the key for this request (its response is
    stored by `finish`), or raise Replay / IdempotencyRefused."""
    if request.method != "POST" or HEADER not in request.headers:
        return
    key = request.headers[HEADER]
    if not _VALID_KEY.fullmatch(key):
        raise IdempotencyRefused(
            400,
            "IDEMPOTENCY_KEY_INVALID",
            f"{HEADER} must be 1-255 printable ASCII characters (a UUID is a good choice)",
        )
    request_print = fingerprint(request, max_source_bytes)
    scope = {"tenant_id": principal.tenant_id, "key": key, "route": f"POST {request.path}"}
    for _attempt in range(3):
        record_id = idempotency_store.insert(**scope, fingerprint=request_print)
        if record_id is None:
            existing = idempotency_store.find(**scope)
            if existing is None:  # pruned between the insert and the read: claim again
                continue
            now = timezone.now()
            in_flight = existing.response_status is None
            if existing.created_at < now - (IN_FLIGHT_TIMEOUT if in_flight else RETENTION):
                # Expired (not pruned yet) or abandoned: the key is free again.
                idempotency_store.delete(existing.pk)
                continue
            if existing.fingerprint != request_print:
                raise IdempotencyRefused(
                    422,
                    "IDEMPOTENCY_KEY_REUSED",
                    f"this {HEADER} was already used on {scope['route']} with a different "
                    "request body; use a new key for a new request",
                ) from None
            if in_flight:
                raise IdempotencyRefused(
                    409,
                    "IDEMPOTENCY_KEY_IN_USE",
                    f"the first request with this {HEADER} is still being processed; "
                    "retry when it has finished",
                    retry_after=IN_FLIGHT_RETRY_AFTER_SECONDS,
                ) from None
            log.info("IDEMPOTENT_REPLAY", route=scope["route"], status=existing.response_status)
            raise Replay(existing) from None
        request.idempotency_record_id = record_id
        return
    raise IdempotencyRefused(
        409,
        "IDEMPOTENCY_KEY_IN_USE",
        f"this {HEADER} is being claimed by another request; retry",
        retry_after=IN_FLIGHT_RETRY_AFTER_SECONDS,
    )


def finish(request: HttpRequest, response: HttpResponse) -> None:
    """Store the response of a request that claimed a key, or free the key when the response
    says nothing was done."""
    record_id = getattr(request, "idempotency_record_id", None)
    if record_id is None:
        return
    status = response.status_code
    if status >= 500 or status in NOT_STORED or getattr(response, "streaming", False):
        release(request)
        return
    request.idempotency_record_id = None
    idempotency_store.store_response(
        record_id,
        status,
        response.get("Content-Type", ""),
        response.get("Location", ""),
        response.content,
    )


def release(request: HttpRequest) -> None:
    """Free the key of a request that ended without a response (an escaped exception)."""
    record_id = getattr(request, "idempotency_record_id", None)
    if record_id is not None:
        request.idempotency_record_id = None
        idempotency_store.delete(record_id)
