"""DjangoCaptionRepository: caption tracks, and the caption job's fenced lease as single
conditional UPDATEs on the database clock (the same rules as DjangoVideoRepository)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cached_property

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now

from academy.adapters.db.django import lease_queries
from academy.adapters.db.django.repositories_video import _now_plus, to_record
from academy.adapters.db.django.transcript_search import transcript_search
from academy.adapters.db.django.video_events import DjangoVideoEventOutbox
from apps.support.captions.models import CaptionTrack
from apps.support.video.models import Video
from src.application.domain import (
    CaptionKind,
    CaptionStatus,
    Cue,
    ErrorCode,
    Lease,
    VideoStatus,
    exhausted_message,
    fail_outcome,
)
from src.application.domain.webhooks import VideoEventType
from src.application.ports.captions import (
    CaptionRepository,
    CaptionResult,
    CaptionTrackRecord,
    NewUploadedTrack,
    StaleCaptionJob,
)
from src.application.ports.transcript_search import TranscriptSearch
from src.application.ports.video_events import VideoEventOutbox
from src.application.ports.video_repository import Claim, ProcessingRow

S = CaptionStatus
AUTO = CaptionKind.AUTO


def track_record(t: CaptionTrack) -> CaptionTrackRecord:
    return CaptionTrackRecord(
        id=t.pk,
        video_id=t.video_id,
        tenant_id=t.tenant_id,
        kind=CaptionKind(t.kind),
        status=CaptionStatus(t.status),
        language=t.language,
        label=t.label,
        error_code=t.error_code,
        error_message=t.error_message,
        vtt_key=t.vtt_key,
        playlist_key=t.playlist_key,
        cue_count=t.cue_count,
        leased_by=t.leased_by,
        leased_until=t.leased_until,
        lease_token=t.lease_token,
        attempts=t.attempts,
        stage_timings_ms=dict(t.stage_timings_ms or {}),
        created_at=t.created_at,
        updated_at=t.updated_at,
        ready_at=t.ready_at,
    )


# Only the small columns: the cues stay in the database until someone asks for them.
_LIST_FIELDS = [f.name for f in CaptionTrack._meta.concrete_fields if f.name != "cues"]


class DjangoCaptionRepository(lease_queries.OnOneDatabase, CaptionRepository):
    def __init__(
        self,
        max_attempts: int = 3,
        default_lease_seconds: int = 300,
        using: str = "default",
        events: VideoEventOutbox | None = None,
    ) -> None:
        super().__init__(max_attempts, default_lease_seconds)
        self.using = using
        self.events = events or DjangoVideoEventOutbox(using)

    @property
    def _tracks(self):
        return self._objects(CaptionTrack)

    @contextlib.contextmanager
    def master_lock(self, video_id: int) -> Iterator[None]:
        """The video's row locked FOR UPDATE (PostgreSQL) for the rewrite; SQLite serialises
        its writers anyway."""
        with transaction.atomic(using=self.using):
            list(
                Video.objects.using(self.using)
                .select_for_update()
                .filter(pk=video_id)
                .values_list("pk", flat=True)
            )
            yield

    def _auto(self, video_id: int):
        return self._tracks.filter(video_id=video_id, kind=AUTO)

    def _fenced(self, lease: Lease):
        return self._auto(lease.video_id).filter(
            status=S.PROCESSING, leased_by=lease.worker_id, lease_token=lease.token
        )

    def _change(self, video_id: int, rows, event: VideoEventType | None = None, **fields) -> bool:
        """One conditional UPDATE and, when it took and says so, the webhook event with the
        video and the automatic track as the change left them: both in one transaction (the
        outbox rule)."""
        with transaction.atomic(using=self.using):
            if not rows.update(**fields):
                return False
            if event is not None:
                video = Video.objects.using(self.using).get(pk=video_id)
                track = self._auto(video_id).only(*_LIST_FIELDS).get()
                self.events.record(to_record(video), event, track_record(track))
            return True

    # -- the job -----------------------------------------------------------------------------
    def request_auto(self, video_id: int, language: str) -> CaptionTrackRecord | None:
        video = (
            Video.objects.using(self.using)
            .filter(pk=video_id, status=VideoStatus.READY)
            .values("tenant_id")
            .first()
        )
        if video is None or self._auto(video_id).exists():
            return None
        try:
            with transaction.atomic(using=self.using):
                row = self._tracks.create(
                    tenant_id=video["tenant_id"],
                    video_id=video_id,
                    kind=AUTO,
                    status=S.QUEUED,
                    language=language,
                )
                Video.objects.using(self.using).filter(pk=video_id).update(
                    captions_requested_at=Now()
                )
        except IntegrityError:  # another caller created it first: theirs is the one
            return None
        return track_record(row)

    def get(self, video_id: int) -> CaptionTrackRecord | None:
        row = self._auto(video_id).only(*_LIST_FIELDS).first()
        return track_record(row) if row else None

    def claim_video(self, video_id: int, worker_id: str, lease_seconds: int | None = None) -> Claim:
        seconds = lease_seconds or self.default_lease_seconds
        with transaction.atomic(using=self.using):
            claimed = (
                self._auto(video_id)
                .filter(status=S.QUEUED, attempts__lt=self.max_attempts)
                .update(
                    status=S.PROCESSING,
                    leased_by=worker_id,
                    leased_until=_now_plus(seconds),
                    lease_token=F("lease_token") + 1,
                    attempts=F("attempts") + 1,
                    processing_started_at=Now(),
                    updated_at=Now(),
                )
            )
            if claimed:
                row = (
                    self._auto(video_id)
                    .select_related("video")
                    .only(*_LIST_FIELDS, "video__source_key")
                    .get()
                )
                return Claim(
                    Lease(
                        video_id=video_id,
                        tenant_id=row.tenant_id,
                        worker_id=row.leased_by,
                        token=row.lease_token,
                        expires_at=row.leased_until,
                        attempt=row.attempts,
                        source_key=row.video.source_key,
                    )
                )
        return Claim(None, exhausted=self._fail_exhausted(video_id))

    def _fail_exhausted(self, video_id: int) -> bool:
        row = (
            self._auto(video_id)
            .filter(status=S.QUEUED, attempts__gte=self.max_attempts)
            .values("attempts", "lease_token", "error_code", "error_message")
            .first()
        )
        if row is None:
            return False
        return self._change(
            video_id,
            self._auto(video_id).filter(
                status=S.QUEUED, attempts=row["attempts"], lease_token=row["lease_token"]
            ),
            VideoEventType.CAPTIONS_FAILED,
            status=S.FAILED,
            error_code=ErrorCode.MAX_ATTEMPTS_EXCEEDED,
            error_message=exhausted_message(
                row["attempts"], row["error_code"], row["error_message"]
            ),
            updated_at=Now(),
        )

    def renew_lease(self, lease: Lease, seconds: int | None = None) -> Lease | None:
        seconds = seconds or self.default_lease_seconds
        with transaction.atomic(using=self.using):
            if not self._fenced(lease).update(leased_until=_now_plus(seconds), updated_at=Now()):
                return None
            until = self._auto(lease.video_id).values_list("leased_until", flat=True).get()
        return Lease(**{**lease.__dict__, "expires_at": until})

    @cached_property
    def search_index(self) -> TranscriptSearch:
        """The transcript index, written in the same transaction as the track it follows."""
        return transcript_search(self.using)

    def complete(self, lease: Lease, result: CaptionResult) -> bool:
        with transaction.atomic(using=self.using):
            if not self._complete(lease, result):
                return False
            track = self._auto(lease.video_id).values("pk", "tenant_id").get()
            self.search_index.index_track(
                track["pk"], lease.video_id, track["tenant_id"], result.language, result.cues
            )
            return True

    def _complete(self, lease: Lease, result: CaptionResult) -> bool:
        return self._change(
            lease.video_id,
            self._fenced(lease),
            VideoEventType.CAPTIONS_READY,
            status=S.READY,
            leased_by="",
            leased_until=None,
            error_code="",
            error_message="",
            language=result.language,
            label=result.label,
            vtt_key=result.vtt_key,
            playlist_key=result.playlist_key,
            cues=[c.to_dict() for c in result.cues],
            cue_count=len(result.cues),
            stage_timings_ms=dict(result.stage_timings_ms),
            ready_at=Now(),
            updated_at=Now(),
        )

    def skip(self, lease: Lease, error_code: ErrorCode, message: str) -> bool:
        return self._change(
            lease.video_id,
            self._fenced(lease),
            status=S.SKIPPED,
            leased_by="",
            leased_until=None,
            error_code=error_code,
            error_message=message[:2000],
            updated_at=Now(),
        )

    def fail(self, lease: Lease, error_code: ErrorCode, message: str, retryable: bool) -> bool:
        failure = fail_outcome(lease.attempt, self.max_attempts, error_code, message, retryable)
        return self._change(
            lease.video_id,
            self._fenced(lease),
            None if failure.will_retry else VideoEventType.CAPTIONS_FAILED,
            status=S.QUEUED if failure.will_retry else S.FAILED,
            leased_by="",
            leased_until=None,
            error_code=failure.error_code,
            error_message=failure.error_message,
            updated_at=Now(),
        )

    def release(self, lease: Lease, error_code: str = "", message: str = "") -> bool:
        return lease_queries.release(self._fenced(lease), S.QUEUED, error_code, message)

    def cancel(self, video_id: int) -> bool:
        return bool(
            self._auto(video_id)
            .filter(status__in=(S.QUEUED, S.PROCESSING))
            .update(status=S.CANCELED, leased_by="", leased_until=None, updated_at=Now())
        )

    def try_reclaim_video(
        self,
        video_id: int,
        force: bool = False,
        *,
        expected_token: int | None = None,
        expected_worker: str | None = None,
    ) -> bool:
        return lease_queries.reclaim(
            self._auto(video_id).filter(status=S.PROCESSING),
            S.QUEUED,
            force=force,
            expected_token=expected_token,
            expected_worker=expected_worker,
        )

    def list_processing(self, limit: int = 100) -> list[ProcessingRow]:
        rows = self._tracks.filter(kind=AUTO, status=S.PROCESSING)
        return lease_queries.processing_rows(rows, "video_id", self.using, limit)

    def list_stale_uploaded(
        self, older_than_seconds: int, limit: int = 100
    ) -> list[StaleCaptionJob]:
        rows = (
            self._tracks.filter(
                kind=AUTO, status=S.QUEUED, updated_at__lt=_now_plus(-older_than_seconds)
            )
            .order_by("updated_at")
            .values("video_id", "tenant_id")[:limit]
        )
        return [StaleCaptionJob(r["video_id"], r["tenant_id"]) for r in rows]

    def list_unrequested(
        self, older_than_seconds: int, within_seconds: int, limit: int = 100
    ) -> list[StaleCaptionJob]:
        rows = (
            Video.objects.using(self.using)
            .filter(
                status=VideoStatus.READY,
                captions_requested_at__isnull=True,
                processing_completed_at__lt=_now_plus(-older_than_seconds),
                processing_completed_at__gte=_now_plus(-within_seconds),
            )
            .exclude(pk__in=self._tracks.filter(kind=AUTO).values("video_id"))
            .order_by("processing_completed_at")
            .values("id", "tenant_id")[:limit]
        )
        return [StaleCaptionJob(r["id"], r["tenant_id"]) for r in rows]

    def mark_enqueued(self, video_id: int, older_than_seconds: int | None = None) -> bool:
        qs = self._auto(video_id).filter(status=S.QUEUED)
        if older_than_seconds is not None:
            qs = qs.filter(updated_at__lt=_now_plus(-older_than_seconds))
        return bool(qs.update(updated_at=Now()))

    # -- the tracks ----------------------------------------------------------------------------
    def list_tracks(self, video_id: int) -> list[CaptionTrackRecord]:
        rows = self._tracks.filter(video_id=video_id).only(*_LIST_FIELDS).order_by("pk")
        return [track_record(t) for t in rows]

    def get_track(self, track_id: int) -> CaptionTrackRecord | None:
        row = self._tracks.filter(pk=track_id).only(*_LIST_FIELDS).first()
        return track_record(row) if row else None

    def cues(self, track_id: int) -> list[Cue]:
        raw = (
            self._tracks.filter(pk=track_id, status=S.READY).values_list("cues", flat=True).first()
        )
        return [Cue.from_dict(c) for c in raw or []]

    def put_uploaded(self, new: NewUploadedTrack) -> tuple[CaptionTrackRecord, list[str]]:
        with transaction.atomic(using=self.using):
            old = (
                self._tracks.select_for_update()
                .filter(video_id=new.video_id, kind=CaptionKind.UPLOADED, language=new.language)
                .first()
            )
            replaced = [k for k in (old.vtt_key, old.playlist_key) if k] if old else []
            if old is not None:
                old.delete()
            row = self._tracks.create(
                tenant_id=new.tenant_id,
                video_id=new.video_id,
                kind=CaptionKind.UPLOADED,
                status=S.READY,
                language=new.language,
                label=new.label,
                vtt_key=new.vtt_key,
                playlist_key=new.playlist_key,
                cues=[c.to_dict() for c in new.cues],
                cue_count=len(new.cues),
                ready_at=Now(),
            )
            row.refresh_from_db()
            # The replaced track's cues went with its row (ON DELETE CASCADE).
            self.search_index.index_track(
                row.pk, new.video_id, new.tenant_id, new.language, new.cues
            )
        return track_record(row), replaced

    def delete_track(self, track_id: int) -> CaptionTrackRecord | None:
        with transaction.atomic(using=self.using):
            row = self._tracks.select_for_update().only(*_LIST_FIELDS).filter(pk=track_id).first()
            if row is None:
                return None
            record = track_record(row)
            self.search_index.remove_track(track_id)
            row.delete()
        return record
