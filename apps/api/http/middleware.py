"""Request context (trace id, one access log line) and the problem+json safety net.

Order in settings.MIDDLEWARE: RequestContextMiddleware first (every later step, errors
included, knows the trace id), ProblemFallbackMiddleware last (it sees view exceptions
first), PerKeyMiddleware second (it stores idempotent responses and adds rate-limit headers
once the response is final). What acts per API key before the view (rate limits, the
idempotency claim) belongs after authentication, in apps/api/keys/auth.py: no key is known here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from apps.api.http.problems import code_for_status, is_problem, problem
from apps.api.http.trace import RESPONSE_HEADER, trace_id_from
from apps.api.keys import idempotency, rate_limits
from src.infrastructure import metrics

log = structlog.get_logger("apps.api")

# Django's admin and the web pages (apps/web/) keep their own HTML pages; everything else
# answers in problem+json.
HTML_PREFIXES = ("/admin/", "/static/", "/sign-in", "/sign-out", "/upload", "/videos/")


def _is_html_path(path: str) -> bool:
    return path == "/" or path.startswith(HTML_PREFIXES)


def _route_of(request: HttpRequest) -> str:
    """The URL pattern, not the path: one series per route, whatever ids the paths hold."""
    match = getattr(request, "resolver_match", None)
    return f"/{match.route}" if match is not None and match.route else "unmatched"


def _record_metrics(request: HttpRequest, response: HttpResponse, seconds: float) -> None:
    route, method = _route_of(request), request.method or ""
    metrics.API_REQUESTS.labels(route, method, str(response.status_code)).inc()
    metrics.API_LATENCY.labels(route, method).observe(seconds)
    if response.status_code == 429:
        metrics.API_RATE_LIMITED.labels(route).inc()
    if response.get("Idempotent-Replayed") == "true":
        metrics.API_IDEMPOTENT_REPLAYS.labels(route).inc()


class RequestContextMiddleware:
    """Give the request its trace id, echo it, and log one API_REQUEST line (no headers)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trace_id = trace_id_from(request.headers)
        request.trace_id = trace_id
        started = time.monotonic()
        # A thread serves many requests: start from nothing, end with nothing.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        try:
            response = self.get_response(request)
            response[RESPONSE_HEADER] = trace_id
            _record_metrics(request, response, time.monotonic() - started)
            principal = getattr(request, "auth", None)
            log.info(
                "API_REQUEST",
                method=request.method,
                path=request.path,
                status=response.status_code,
                duration_ms=int((time.monotonic() - started) * 1000),
                api_key_id=getattr(principal, "key_id", None),
            )
            return response
        finally:
            structlog.contextvars.clear_contextvars()


class PerKeyMiddleware:
    """After the response is final: store it for its Idempotency-Key (or free the key) and
    add the key's rate-limit headers. Sits right after RequestContextMiddleware, so it sees
    problem responses made by the fallback below."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except BaseException:
            idempotency.release(request)
            raise
        idempotency.finish(request, response)
        rate_limits.add_headers(request, response)
        return response


class ProblemFallbackMiddleware:
    """Any error the API's own handlers did not shape (unknown routes, 405s, CSRF, a crash
    outside a view) becomes a problem response; tracebacks go to the log only."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or is_problem(response) or _is_html_path(request.path):
            return response
        status = response.status_code
        code = code_for_status(status)
        detail = {
            404: f"there is nothing at {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(status, "the request could not be handled")
        headers = {"Allow": response["Allow"]} if response.has_header("Allow") else None
        return problem(request, status, code, detail, headers=headers)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if _is_html_path(request.path):
            return None
        from apps.api.http.errors import response_for_exception

        return response_for_exception(request, exception)
