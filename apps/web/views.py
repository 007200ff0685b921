"""The academy's web pages: sign in with an API key, library, upload, one video.

Pages are rendered here from the same use cases as the API (academy/current.py); their
scripts (static/web/js/) then call the API with the session cookie for uploads, live progress
and the buttons. Every view below except sign-in needs a signed-in tenant, and every video is
looked up through the tenant, so another tenant's id is a 404 like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import structlog
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from academy.current import use_cases
from apps.api.keys import auth_throttle
from apps.api.keys.api_keys import KeyRejected, Principal
from apps.api.playback.links import caption_bodies, published_body
from apps.api.presenters.videos import clock, hit_body, video_body
from apps.support.video.models import Tenant
from apps.web.deliveries import video_deliveries
from apps.web.session_auth import session_principal, sign_in, sign_out
from src.application.domain import CaptionStatus, VideoStatus
from src.application.ports.video_repository import CANCELABLE, RETRYABLE
from src.application.video_errors import InvalidVideoRequest, VideoNotFound, VideoRequestError

log = structlog.get_logger("apps.web")

PAGE_SIZE = 20
# Statuses a video rests in until someone acts: no live progress to follow.
FINAL = (VideoStatus.READY, VideoStatus.FAILED, VideoStatus.CANCELED)
ACTIONS = ("cancel", "retry", "delete")
MAX_KEY_LENGTH = 200


def tenant_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The signed-in tenant as `principal`; the sign-in page (coming back here) otherwise."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        principal = session_principal(request)
        if principal is None:
            return redirect(f"{reverse('web:sign-in')}?{urlencode({'next': request.path})}")
        request.tenant = Tenant.objects.get(pk=principal.tenant_id)
        return view(request, principal, *args, **kwargs)

    return wrapper


def _safe_next(request: HttpRequest, wanted: str | None) -> str:
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return reverse("web:library")


@require_http_methods(["GET", "POST"])
def sign_in_page(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    error = ""
    if request.method == "POST":
        key = request.POST.get("api_key", "").strip()
        if not key:
            error = "Enter your academy's API key."
        elif len(key) > MAX_KEY_LENGTH:
            error = "That is not an API key: keys are at most 200 characters."
        else:
            try:
                auth_throttle.check_allowed(request, key)
                principal = sign_in(request, key)
            except auth_throttle.AuthThrottled as exc:
                response = render(
                    request,
                    "web/sign_in.html",
                    {
                        "error": f"Too many failed sign-ins: try again in {exc.retry_after} s.",
                        "next": next_url,
                    },
                    status=429,
                )
                response["Retry-After"] = str(exc.retry_after)
                return response
            except KeyRejected as exc:
                auth_throttle.record_failure(request, key)
                reason = str(exc)
                error = f"Sign-in failed: {reason[:1].upper()}{reason[1:]}."
            else:
                log.info(
                    "WEB_SIGNED_IN", tenant_id=principal.tenant_id, api_key_id=principal.key_id
                )
                return redirect(next_url)
    # A refused key re-shows the form (200, like any form with errors), with the reason.
    return render(request, "web/sign_in.html", {"error": error, "next": next_url})


@require_POST
def sign_out_page(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    messages.info(request, "You are signed out.")
    return redirect("web:sign-in")


def _status_filter(raw: str | None) -> VideoStatus | None:
    if not raw:
        return None
    try:
        return VideoStatus(raw)
    except ValueError:
        known = ", ".join(s.value for s in VideoStatus)
        raise InvalidVideoRequest(f"unknown status {raw[:40]!r}: choose one of {known}") from None


def _hit(body: dict[str, Any]) -> dict[str, Any]:
    """A search hit with the second the video page starts at and its label ("1:05")."""
    if body["start"] is None:
        return body
    return {**body, "second": int(body["start"]), "clock": clock(body["start"])}


def _row(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    """A video's API body plus what the templates need to show its buttons."""
    status = VideoStatus(body["status"])
    return {
        **body,
        "status_label": status.label,
        "is_final": status in FINAL,
        "can_cancel": status in CANCELABLE,
        "can_retry": status in RETRYABLE and body["uploaded_at"] is not None,
    }


@require_GET
@tenant_required
def library(request: HttpRequest, principal: Principal) -> HttpResponse:
    queries = use_cases().queries
    try:
        status = _status_filter(request.GET.get("status"))
        q = request.GET.get("q", "").strip() or None
        page = queries.list(
            principal.tenant_id,
            limit=PAGE_SIZE,
            cursor=request.GET.get("cursor") or None,
            status=status,
            q=q,
        )
    except VideoRequestError as exc:
        return _error_page(request, 400, "This list cannot be shown", exc.message)
    rows = []
    for video in page.videos:
        row = _row(request, video_body(request, video, queries.live_progress(video)))
        if page.hits is not None:
            row["hits"] = [_hit(hit_body(h)) for h in page.hits.get(video.id, [])]
        rows.append(row)
    kept = {**({"status": status.value} if status else {}), **({"q": q} if q else {})}
    next_query = urlencode({**kept, "cursor": page.next_cursor}) if page.next_cursor else None
    return render(
        request,
        "web/library.html",
        {
            "rows": rows,
            "status": status.value if status else "",
            "statuses": [(s.value, s.label) for s in VideoStatus],
            "next_query": next_query,
            "first_page": bool(request.GET.get("cursor")),
            "status_query": urlencode(kept),
            "q": q or "",
        },
    )


@require_GET
@tenant_required
def upload(request: HttpRequest, principal: Principal) -> HttpResponse:
    return render(
        request,
        "web/upload.html",
        {"max_source_bytes": use_cases().config.max_source_bytes},
    )


@require_GET
@tenant_required
def video_page(request: HttpRequest, principal: Principal, video_id: int) -> HttpResponse:
    try:
        view = use_cases().queries.get(principal.tenant_id, video_id)
    except VideoNotFound as exc:
        return _error_page(request, 404, "No such video", exc.message)
    body = _row(request, video_body(request, view.video, view.progress))
    tracks = use_cases().captions.list(principal.tenant_id, video_id)
    published = published_body(request, view.video, tracks)
    return render(
        request,
        "web/video.html",
        {
            "video": body,
            "published": published if published["published"] else None,
            "captions": caption_bodies(request, view.video, tracks),
            "has_transcript": any(t.status == CaptionStatus.READY for t in tracks),
            "timings": sorted((body["timings_ms"] or {}).items()),
            "deliveries": video_deliveries(principal.tenant_id, video_id),
            "token_ttl": use_cases().config.playback.token_ttl_seconds,
        },
    )


@require_POST
@tenant_required
def video_action(
    request: HttpRequest, principal: Principal, video_id: int, action: str
) -> HttpResponse:
    """The buttons without JavaScript: the same use cases as the API, then back to the list."""
    if action not in ACTIONS:
        return _error_page(
            request, 404, "No such action", f"{action[:40]!r} is not one of {ACTIONS}"
        )
    commands = use_cases().commands
    try:
        if action == "cancel":
            commands.cancel(principal.tenant_id, video_id)
            messages.success(request, f"Video {video_id} is canceled.")
        elif action == "retry":
            commands.retry(principal.tenant_id, video_id, trace_id=request.trace_id)
            messages.success(request, f"Video {video_id} is queued again.")
        else:
            if commands.delete(principal.tenant_id, video_id):
                messages.success(request, f"Video {video_id} is deleted.")
            else:  # unknown, already deleted, or another tenant's: the same words for each
                messages.error(request, f"Video {video_id} does not exist.")
    except VideoRequestError as exc:
        messages.error(request, exc.message)
    log.info("WEB_VIDEO_ACTION", video_id=video_id, action=action)
    return redirect(_safe_next(request, request.POST.get("next")))


def _error_page(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    return render(request, "web/error.html", {"title": title, "detail": detail}, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its CSRF token (an old tab, cookies off, another site's form)."""
    detail = (
        "The form had no valid security token. Reload the page and send it again"
        + ("" if settings.DEBUG is False else f" ({reason})")
        + "."
    )
    return _error_page(request, 403, "The form could not be sent", detail)
