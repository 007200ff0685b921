from django.contrib import admin

from apps.support.video.models import Tenant, Video


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("id", "slug", "name", "created_at")
    search_fields = ("slug", "name")


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "tenant",
        "title",
        "status",
        "leased_by",
        "leased_until",
        "attempts",
        "error_code",
        "updated_at",
    )
    list_filter = ("status", "tenant", "leased_by", "attempts", "error_code")
    search_fields = ("title", "leased_by", "error_code")
    readonly_fields = ("lease_token", "created_at", "updated_at")
    list_select_related = ("tenant",)
