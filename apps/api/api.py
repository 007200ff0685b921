"""The API v1 instance: routers, API key auth by default, strict JSON, problem+json errors."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.api.http.bodies import StrictJsonParser
from apps.api.http.errors import response_for_exception
from apps.api.keys.auth import API_KEY_AUTH
from apps.api.playback import routes as playback_routes
from apps.api.routers import captions, system, videos, webhooks
from apps.web.session_auth import SessionKey

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
api.add_router("", playback_routes.router)
