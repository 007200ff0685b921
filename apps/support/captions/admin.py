"""Caption tracks in the operators' admin: read-only (tracks change through the API, the
caption job and reconcile, never by hand), listed on their own and under each video."""

from __future__ import annotations

from django.contrib import admin

from apps.support.captions.models import CaptionTrack
from apps.support.video.admin import VideoAdmin

FIELDS = (
    "video",
    "tenant",
    "kind",
    "language",
    "label",
    "status",
    "error_code",
    "error_message",
    "cue_count",
    "leased_by",
    "leased_until",
    "lease_token",
    "attempts",
    "vtt_key",
    "playlist_key",
    "stage_timings_ms",
    "processing_started_at",
    "ready_at",
    "created_at",
    "updated_at",
)


@admin.register(CaptionTrack)
class CaptionTrackAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "video",
        "tenant",
        "kind",
        "language",
        "status",
        "error_code",
        "cue_count",
        "ready_at",
    )
    list_filter = ("status", "kind", "language")
    search_fields = ("video__title", "label")
    list_select_related = ("video", "tenant")
    fields = FIELDS
    readonly_fields = FIELDS

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CaptionTrackInline(admin.TabularInline):
    model = CaptionTrack
    fields = ("kind", "language", "label", "status", "error_code", "cue_count", "ready_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


# The captions app extends the video's admin page (the video app knows nothing of captions).
VideoAdmin.inlines = [*VideoAdmin.inlines, CaptionTrackInline]
