"""Tenants and their videos; the Video row is the single source of truth for a job."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from src.application.domain import PlaybackPolicy, VideoStatus
from src.application.domain.playback import new_playback_id
from src.application.storage_keys import new_media_salt


class Tenant(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Video(models.Model):
    # The lifecycle's statuses are defined once, in the domain; the choices follow them.
    Status = models.TextChoices("Status", [(s.name, (s.value, s.label)) for s in VideoStatus])

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="videos")
    title = models.CharField(max_length=300, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)

    # Lease: who owns the job until when; the token grows on every claim and fences writes.
    leased_by = models.CharField(max_length=128, blank=True, default="")
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    source_key = models.CharField(max_length=512, blank=True, default="")
    hls_key = models.CharField(max_length=512, blank=True, default="")
    thumbnail_key = models.CharField(max_length=512, blank=True, default="")

    duration_seconds = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    renditions = models.JSONField(default=list, blank=True)
    stage_timings_ms = models.JSONField(default=dict, blank=True)

    # The producer's own reference and free-form data, returned as given (HTTP API).
    external_id = models.CharField(max_length=200, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # The trace id of the request that created the video; sent with every job message.
    trace_id = models.CharField(max_length=128, blank=True, default="")
    # The language its automatic captions are transcribed in ("": VIDEO_CAPTIONS_LANGUAGE).
    caption_language = models.CharField(max_length=16, blank=True, default="")
    # Direct uploads: the size announced at creation, the storage's multipart upload id,
    # when an unfinished upload expires, and when the bytes were confirmed.
    declared_size_bytes = models.BigIntegerField(null=True, blank=True)
    upload_id = models.CharField(max_length=1024, blank=True, default="")
    upload_expires_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    # When cleanup removed the source of this READY video (VIDEO_SOURCE_RETENTION_DAYS);
    # source_key still says where it was.
    source_removed_at = models.DateTimeField(null=True, blank=True)

    # Every public URL names the video by this unguessable id (never its ids); a rotation
    # replaces it and the old URLs stop working. `signed`: playback needs a token.
    playback_id = models.CharField(max_length=32, unique=True, default=new_playback_id)
    playback_policy = models.CharField(
        max_length=8,
        choices=[(p.value, p.value) for p in PlaybackPolicy],
        default=PlaybackPolicy.SIGNED.value,
    )

    # The video's own secret: its outputs' folders (media/{video}/{claim}/) are derived from
    # it, so no stored or CDN path names the tenant, the video or the claim. Never shown by
    # any API, page, webhook or log (not editable: no admin form has it).
    media_salt = models.CharField(max_length=64, default=new_media_salt, editable=False)

    processing_started_at = models.DateTimeField(null=True, blank=True)
    processing_completed_at = models.DateTimeField(null=True, blank=True)
    # When its automatic caption track was requested (null: never): reconcile requests one for
    # a READY video the worker died before asking for (a deleted track is not asked again).
    captions_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Reconcile: "PROCESSING rows whose lease expired" is a range scan on leased_until.
            models.Index(
                fields=["leased_until"],
                name="video_processing_lease_idx",
                condition=Q(status=VideoStatus.PROCESSING),
            ),
            # Lost enqueues: "UPLOADED rows older than N" is a range scan on updated_at.
            models.Index(
                fields=["updated_at"],
                name="video_uploaded_updated_idx",
                condition=Q(status=VideoStatus.UPLOADED),
            ),
            models.Index(fields=["tenant", "status"], name="video_tenant_status_idx"),
            # API listing: a tenant's videos newest first, by external id.
            models.Index(fields=["tenant", "-id"], name="video_tenant_id_idx"),
            models.Index(
                fields=["tenant", "external_id"],
                name="video_tenant_external_idx",
                condition=~Q(external_id=""),
            ),
            # Reconcile: "AWAITING_UPLOAD rows whose upload expired" is a range scan.
            models.Index(
                fields=["upload_expires_at"],
                name="video_awaiting_expiry_idx",
                condition=Q(status=VideoStatus.AWAITING_UPLOAD),
            ),
        ]

    def __str__(self) -> str:
        return f"video {self.pk} ({self.status})"
