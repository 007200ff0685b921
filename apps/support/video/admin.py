"""The operators' admin: what is running, stuck or failing, and the levers to act on it.

The video list shows live progress from Redis (for PROCESSING rows), the lease holder and the
time its lease has left, and the trace id; actions retry, cancel and "reclaim now" (the same
path as `reconcile_video_processing --force --video-id N`) go through the use cases the API
uses, so the admin can never move a row in a way the API could not.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from academy.current import use_cases
from apps.support.video.models import Tenant, Video
from src.application.domain import VideoStatus
from src.application.ports.progress import TelemetryUnavailable
from src.application.video_errors import VideoRequestError


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("id", "slug", "name", "created_at")
    search_fields = ("slug", "name")


def lease_left(video: Video) -> str:
    """ "42 s left", "expired 7 s ago", or "—" when nobody holds the job."""
    if video.status != VideoStatus.PROCESSING or video.leased_until is None:
        return "—"
    seconds = int((video.leased_until - timezone.now()).total_seconds())
    return f"{seconds} s left" if seconds >= 0 else f"expired {-seconds} s ago"


def live_progress(video: Video) -> str:
    """The worker's live record while PROCESSING (Redis); the status otherwise."""
    if video.status != VideoStatus.PROCESSING:
        return "100%" if video.status == VideoStatus.READY else "—"
    try:
        record = use_cases().queries.worker_record(video.tenant_id, video.pk)
    except TelemetryUnavailable:
        return "Redis unavailable"
    if not record:
        return "no progress yet"
    try:
        percent = max(0.0, min(100.0, float(record.get("percent", 0.0))))
    except (TypeError, ValueError):
        percent = 0.0
    return f"{percent:.0f}% {record.get('step') or ''}".strip()


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "tenant",
        "title",
        "status",
        "progress",
        "leased_by",
        "lease",
        "attempts",
        "error_code",
        "playback_policy",
        "trace",
        "updated_at",
    )
    list_filter = ("status", "tenant", "playback_policy", "leased_by", "attempts", "error_code")
    search_fields = (
        "title",
        "leased_by",
        "error_code",
        "=trace_id",
        "=external_id",
        "=playback_id",
    )
    readonly_fields = (
        # Replaced only by a rotation (the API), never typed in: it must stay unguessable.
        "playback_id",
        "lease_token",
        "progress",
        "lease",
        "trace_links",
        "created_at",
        "updated_at",
        "source_removed_at",
    )
    list_select_related = ("tenant",)
    actions = ("retry_videos", "cancel_videos", "reclaim_now")

    @admin.display(description="progress (live)")
    def progress(self, video: Video) -> str:
        return live_progress(video)

    @admin.display(description="lease", ordering="leased_until")
    def lease(self, video: Video) -> str:
        return lease_left(video)

    @admin.display(description="trace id", ordering="trace_id")
    def trace(self, video: Video) -> str:
        if not video.trace_id:
            return "—"
        return format_html('<a href="{}">{}…</a>', self._trace_list_url(video), video.trace_id[:12])

    @admin.display(description="trace")
    def trace_links(self, video: Video) -> str:
        if not video.trace_id:
            return "—"
        links = [(self._trace_list_url(video), "every video of this trace")]
        template = settings.CONFIG.trace_url_template
        if template:
            links.append((template.replace("{trace_id}", quote(video.trace_id)), "its log lines"))
        items = format_html_join(" · ", '<a href="{}">{}</a>', links)
        return format_html("<code>{}</code> ({})", video.trace_id, items)

    @staticmethod
    def _trace_list_url(video: Video) -> str:
        base = reverse("admin:video_video_changelist")
        return f"{base}?{urlencode({'trace_id': video.trace_id})}"

    # -- actions: the use cases the API calls -----------------------------------------------
    @admin.action(description="Retry (FAILED or CANCELED → queued again)")
    def retry_videos(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        commands = use_cases().commands
        self._each(
            request,
            queryset,
            "queued again",
            lambda v: commands.retry(v.tenant_id, v.pk, trace_id=getattr(request, "trace_id", "")),
        )

    @admin.action(description="Cancel (the worker stops at its next lease renewal)")
    def cancel_videos(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        commands = use_cases().commands
        self._each(request, queryset, "canceled", lambda v: commands.cancel(v.tenant_id, v.pk))

    @admin.action(description="Reclaim now (reconcile --force: take the job from its worker)")
    def reclaim_now(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        reconciler = use_cases().reclaimer()
        for video in queryset:
            report = reconciler.run_once(force_video_id=video.pk)
            if video.pk in report.reclaimed and not report.errors:
                messages.success(request, f"Video {video.pk}: reclaimed and queued again.")
            elif report.errors:
                error = report.errors[0]["error"]
                messages.error(request, f"Video {video.pk}: not reclaimed: {error}")
            else:
                reason = report.skipped[0]["reason"] if report.skipped else "nothing to do"
                messages.warning(request, f"Video {video.pk}: not reclaimed ({reason}).")

    def _each(self, request: HttpRequest, queryset: QuerySet[Video], done: str, act) -> None:
        for video in queryset:
            try:
                act(video)
            except VideoRequestError as exc:
                messages.error(request, f"Video {video.pk}: {exc.message}")
            else:
                messages.success(request, f"Video {video.pk}: {done}.")
