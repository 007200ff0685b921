"""API key authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

Every /api/v1 route except health, readiness, version and the docs requires a key. A failure
of any kind is a 401 problem (apps/api/http/errors.py); the reason is kept on the request for it.
Per-key concerns that need the principal (rate limits, idempotency) hook in at
`authenticated()`.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from academy.current import use_cases
from apps.api.keys import idempotency
from apps.api.keys.api_keys import KeyRejected, Principal, verify_key
from apps.api.keys.rate_limits import take_token


def authenticated(request: HttpRequest, principal: Principal) -> Principal:
    """The one place a request becomes a tenant's: the key's rate limit, then (POST with an
    Idempotency-Key) the key's claim, which may answer with a replay instead of the view."""
    structlog.contextvars.bind_contextvars(tenant_id=principal.tenant_id)
    cases = use_cases()
    if cases.rate_limiter is not None:
        take_token(request, principal, cases.rate_limiter)
    idempotency.claim(request, principal, cases.config.max_source_bytes)
    return principal


def _check(request: HttpRequest, key: str | None) -> Principal | None:
    if not key:
        return None
    try:
        principal = verify_key(key, settings.CONFIG.api_key_pepper)
    except KeyRejected as exc:
        request.auth_failure = str(exc)
        return None
    return authenticated(request, principal)


class BearerKey(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        return _check(request, token)


class HeaderKey(APIKeyHeader):
    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        return _check(request, key)


API_KEY_AUTH = [BearerKey(), HeaderKey()]
