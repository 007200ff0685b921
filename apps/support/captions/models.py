"""Caption tracks of a video: automatic (a caption job with its own lease) or uploaded."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.support.video.models import Tenant, Video
from src.application.domain import CaptionKind, CaptionStatus


class CaptionTrack(models.Model):
    # Statuses and kinds are defined once, in the domain; the choices follow them.
    Status = models.TextChoices("Status", [(s.name, (s.value, s.label)) for s in CaptionStatus])
    Kind = models.TextChoices("Kind", [(k.name, (k.value, k.value)) for k in CaptionKind])

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="caption_tracks")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="caption_tracks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    language = models.CharField(max_length=16, blank=True, default="")
    label = models.CharField(max_length=100, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    # The caption job's lease, exactly as a video's: fenced by the token, database clock.
    leased_by = models.CharField(max_length=128, blank=True, default="")
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)

    vtt_key = models.CharField(max_length=512, blank=True, default="")
    playlist_key = models.CharField(max_length=512, blank=True, default="")
    # [{"start", "end", "text"}, ...] in time order: what search indexes and the page lists.
    cues = models.JSONField(default=list, blank=True)
    cue_count = models.PositiveIntegerField(default=0)
    stage_timings_ms = models.JSONField(default=dict, blank=True)

    processing_started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One automatic track per video: the caption job is named by the video.
            models.UniqueConstraint(
                fields=["video"], condition=Q(kind="auto"), name="caption_one_auto_per_video"
            ),
            # One uploaded track per language: a new upload replaces it.
            models.UniqueConstraint(
                fields=["video", "language"],
                condition=Q(kind="uploaded"),
                name="caption_one_upload_per_language",
            ),
        ]
        indexes = [
            models.Index(
                fields=["leased_until"],
                name="caption_processing_lease_idx",
                condition=Q(status=CaptionStatus.PROCESSING),
            ),
            models.Index(
                fields=["updated_at"],
                name="caption_queued_updated_idx",
                condition=Q(status=CaptionStatus.QUEUED),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} captions {self.language or '?'} of video {self.video_id}"


class CaptionCue(models.Model):
    """One cue of a READY track, as the transcript search indexes it.

    The full-text part differs by database and is made by migration 0002: on PostgreSQL a
    `document` tsvector column filled by a trigger with the cue's `config` and a GIN index; on
    SQLite an FTS5 table `captions_cue_fts` kept in step by triggers. Rows come and go with
    their track (src/application/ports/transcript_search.py says when).
    """

    track = models.ForeignKey(CaptionTrack, on_delete=models.CASCADE, related_name="+")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=16, blank=True, default="")
    # The text search configuration the words were stemmed with ("english", "simple", …).
    config = models.CharField(max_length=32, default="simple")
    start = models.FloatField()
    end = models.FloatField()
    text = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["track"], name="caption_cue_track_idx")]


class CaptionTrackText(models.Model):
    """The whole text of one READY track (its cues' text, one line each): the search finds and
    ranks videos by it, then reads CaptionCue only for the hits of the page it returns.

    Its full-text part differs by database and is made by migration 0003: on PostgreSQL a
    `document` tsvector column set by the cues' trigger function with `config`, a GIN index,
    and `text` and `document` stored out of line (the row itself stays small); on SQLite an
    FTS5 table `captions_video_fts` with one row per video (all its tracks' text, rowid = the
    video's id), rewritten by triggers on these rows.
    """

    track = models.OneToOneField(
        CaptionTrack, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=16, blank=True, default="")
    config = models.CharField(max_length=32, default="simple")
    text = models.TextField()

    class Meta:
        # PostgreSQL: the configurations a tenant's tracks use, one index probe each.
        indexes = [models.Index(fields=["tenant", "config"], name="caption_text_tenant_config")]
