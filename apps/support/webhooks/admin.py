from django.contrib import admin

from apps.support.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "tenant",
        "url",
        "enabled",
        "failing_since",
        "consecutive_failures",
        "disabled_reason",
        "created_at",
    )
    list_filter = ("enabled", "tenant")
    search_fields = ("url", "description")
    # The signing secret is never shown again after creation.
    exclude = ("secret",)
    readonly_fields = ("failing_since", "consecutive_failures", "created_at", "updated_at")
    list_select_related = ("tenant",)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("attempted_at", "status_code", "error", "duration_ms", "response_excerpt")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "endpoint",
        "video_id",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "tenant")
    search_fields = ("=video_id", "event__message_id")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    list_select_related = ("endpoint",)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "message_id", "type", "tenant", "video_id", "occurred_at")
    list_filter = ("type", "tenant")
    search_fields = ("=video_id", "message_id")
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
