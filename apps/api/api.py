"""The API v1 instance: routers, API key auth by default, strict JSON, problem+json errors.

Module layout (each file holds one concern):
  api.py         this instance and its exception handlers
  routers/       videos.py (create, upload, complete, get, list), system.py (health…),
                 webhooks.py (endpoints, delivery log, redeliver)
  schemas.py     request/response shapes      presenters.py  records -> response bodies
  auth.py        API key auth (hook for per-key limits)   keys.py  issuing/verifying keys
  session_auth.py  the web pages' session cookie (+ CSRF) as a second way in
  bodies.py      strict JSON reading          errors.py  exceptions -> problems
  problems.py    RFC 9457 bodies              trace.py   trace ids
  middleware.py  trace id + access log, problem fallback   services.py  use cases per process
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.api.auth import API_KEY_AUTH
from apps.api.bodies import StrictJsonParser
from apps.api.errors import response_for_exception
from apps.api.routers import captions, system, videos, webhooks
from apps.api.session_auth import SessionKey

api = NinjaAPI(
    title="Academy video API",
    version="1",
    description=(
        "Upload lectures, follow their processing with a live percent, and play the HLS "
        "result. Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>` (the "
        "web pages use their signed session cookie, with the CSRF token on unsafe methods). "
        "Every error is RFC 9457 `application/problem+json` with a `code` and a `trace_id`."
    ),
    urls_namespace="api-v1",
    auth=[*API_KEY_AUTH, SessionKey()],
    parser=StrictJsonParser(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)

for exception_class in (
    Exception,
    Http404,
    HttpError,
    AuthenticationError,
    ValidationError,
    PermissionDenied,
    SuspiciousOperation,
    RequestDataTooBig,
    MultiPartParserError,
):
    api.add_exception_handler(exception_class, response_for_exception)

api.add_router("", system.router)
api.add_router("", videos.router)
api.add_router("", webhooks.router)
api.add_router("", captions.router)
