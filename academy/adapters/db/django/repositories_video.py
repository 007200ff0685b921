"""DjangoVideoRepository: the port as single conditional UPDATEs, timed by the database clock."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import (
    DateTimeField,
    ExpressionWrapper,
    F,
)
from django.db.models.functions import Now

from academy.adapters.db.django import lease_queries
from academy.adapters.db.django.lease_queries import db_now  # noqa: F401 - the tests read it here
from academy.adapters.db.django.video_events import DjangoVideoEventOutbox
from apps.support.video.models import Video
from src.application.domain import (
    ErrorCode,
    Lease,
    PlaybackPolicy,
    VideoStatus,
    exhausted_message,
    fail_outcome,
)
from src.application.ports.video_events import VideoEventOutbox
from src.application.ports.video_repository import (
    CANCELABLE,
    RETRYABLE,
    UPLOAD_EXPIRED_MESSAGE,
    Claim,
    NewUpload,
    ProcessingRow,
    SourceKeyFor,
    VideoFilter,
    VideoRecord,
    VideoRepository,
    VideoResult,
    ready_fields,
    retried_fields,
)

S = Video.Status


def _now_plus(seconds: int) -> ExpressionWrapper:
    """now() + seconds, evaluated by the database, never by this process's clock."""
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


def to_record(v: Video) -> VideoRecord:
    return VideoRecord(
        id=v.pk,
        tenant_id=v.tenant_id,
        status=VideoStatus(v.status),
        title=v.title,
        source_key=v.source_key,
        leased_by=v.leased_by,
        leased_until=v.leased_until,
        lease_token=v.lease_token,
        attempts=v.attempts,
        error_code=v.error_code,
        error_message=v.error_message,
        hls_key=v.hls_key,
        thumbnail_key=v.thumbnail_key,
        duration_seconds=v.duration_seconds,
        width=v.width,
        height=v.height,
        size_bytes=v.size_bytes,
        renditions=list(v.renditions or []),
        stage_timings_ms=dict(v.stage_timings_ms or {}),
        processing_started_at=v.processing_started_at,
        processing_completed_at=v.processing_completed_at,
        created_at=v.created_at,
        updated_at=v.updated_at,
        external_id=v.external_id,
        metadata=dict(v.metadata or {}),
        trace_id=v.trace_id,
        upload_expires_at=v.upload_expires_at,
        declared_size_bytes=v.declared_size_bytes,
        upload_id=v.upload_id,
        uploaded_at=v.uploaded_at,
        source_removed_at=v.source_removed_at,
        caption_language=v.caption_language,
        playback_id=v.playback_id,
        playback_policy=PlaybackPolicy(v.playback_policy),
    )


def _lease_of(v: Video) -> Lease:
    return Lease(
        video_id=v.pk,
        tenant_id=v.tenant_id,
        worker_id=v.leased_by,
        token=v.lease_token,
        expires_at=v.leased_until,
        attempt=v.attempts,
        source_key=v.source_key,
        media_salt=v.media_salt,
    )


class DjangoVideoRepository(lease_queries.OnOneDatabase, VideoRepository):
    def __init__(
        self,
        max_attempts: int = 3,
        default_lease_seconds: int = 300,
        using: str = "default",
        events: VideoEventOutbox | None = None,
    ) -> None:
        super().__init__(max_attempts, default_lease_seconds)
        self.using = using
        # The outbox shares this repository's database: its rows join our transactions.
        self.events = events or DjangoVideoEventOutbox(using)

    @property
    def _videos(self):
        return self._objects(Video)

    def _change(self, video_id: int, rows, **fields) -> bool:
        """One conditional UPDATE and, when it took, the event of the status it set: both in
        one transaction, so an event exists exactly when its change committed."""
        with transaction.atomic(using=self.using):
            if not rows.update(**fields):
                return False
            self.events.record(to_record(self._videos.get(pk=video_id)))
            return True

    def _fenced(self, lease: Lease):
        return self._videos.filter(
            pk=lease.video_id,
            status=S.PROCESSING,
            leased_by=lease.worker_id,
            lease_token=lease.token,
        )

    def create_video(
        self,
        tenant_id: int,
        title: str = "",
        source_key: str = "",
        playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED,
    ) -> int:
        return self._videos.create(
            tenant_id=tenant_id,
            title=title,
            source_key=source_key,
            uploaded_at=Now(),
            playback_policy=str(playback_policy),
        ).pk

    def create_awaiting_upload(self, new: NewUpload, key_for: SourceKeyFor) -> VideoRecord:
        with transaction.atomic(using=self.using):
            video = self._videos.create(
                tenant_id=new.tenant_id,
                title=new.title,
                status=S.AWAITING_UPLOAD,
                external_id=new.external_id,
                metadata=dict(new.metadata),
                trace_id=new.trace_id,
                caption_language=new.caption_language,
                declared_size_bytes=new.declared_size_bytes,
                upload_expires_at=_now_plus(new.upload_ttl_seconds),
                playback_policy=str(new.playback_policy),
            )
            self._videos.filter(pk=video.pk).update(source_key=key_for(new.tenant_id, video.pk))
            return to_record(self._videos.get(pk=video.pk))

    def set_upload_id(self, video_id: int, upload_id: str) -> bool:
        return bool(
            self._videos.filter(pk=video_id, status=S.AWAITING_UPLOAD).update(
                upload_id=upload_id, updated_at=Now()
            )
        )

    def mark_uploaded(self, video_id: int, size_bytes: int) -> bool:
        return bool(
            self._videos.filter(
                pk=video_id, status=S.AWAITING_UPLOAD, upload_expires_at__gt=Now()
            ).update(
                status=S.UPLOADED,
                size_bytes=size_bytes,
                upload_id="",
                upload_expires_at=None,
                uploaded_at=Now(),
                updated_at=Now(),
            )
        )

    def retry(self, video_id: int) -> bool:
        return self._change(
            video_id,
            self._videos.filter(pk=video_id, status__in=RETRYABLE, uploaded_at__isnull=False),
            **retried_fields(),
            updated_at=Now(),
        )

    def delete(self, video_id: int) -> bool:
        deleted, _ = self._videos.filter(pk=video_id).delete()
        return bool(deleted)

    def list_videos(self, query: VideoFilter) -> list[VideoRecord]:
        qs = self._videos.filter(tenant_id=query.tenant_id)
        if query.status is not None:
            qs = qs.filter(status=query.status)
        if query.external_id is not None:
            qs = qs.filter(external_id=query.external_id)
        if query.created_after is not None:
            qs = qs.filter(created_at__gt=query.created_after)
        if query.before_id is not None:
            qs = qs.filter(pk__lt=query.before_id)
        if query.ids is not None:
            qs = qs.filter(pk__in=query.ids)
        return [to_record(v) for v in qs.order_by("-pk")[: query.limit]]

    def expire_uploads(self, limit: int = 100) -> list[VideoRecord]:
        expired = []
        rows = self._videos.filter(status=S.AWAITING_UPLOAD, upload_expires_at__lt=Now()).order_by(
            "upload_expires_at"
        )[:limit]
        for video in rows:
            took = self._change(
                video.pk,
                self._videos.filter(
                    pk=video.pk, status=S.AWAITING_UPLOAD, upload_expires_at__lt=Now()
                ),
                status=S.CANCELED,
                error_code=ErrorCode.UPLOAD_EXPIRED,
                error_message=UPLOAD_EXPIRED_MESSAGE,
                processing_completed_at=Now(),
                updated_at=Now(),
            )
            if took:
                expired.append(to_record(video))
        return expired

    def set_source_key(self, video_id: int, source_key: str) -> bool:
        return bool(
            self._videos.filter(pk=video_id, status=S.UPLOADED).update(
                source_key=source_key, updated_at=Now()
            )
        )

    def get(self, video_id: int) -> VideoRecord | None:
        v = self._videos.filter(pk=video_id).first()
        return to_record(v) if v else None

    def media_salt(self, video_id: int) -> str:
        salt = self._videos.filter(pk=video_id).values_list("media_salt", flat=True).first()
        return salt or ""

    def get_by_playback_id(self, playback_id: str) -> VideoRecord | None:
        v = self._videos.filter(playback_id=playback_id).first()
        return to_record(v) if v else None

    def set_playback(
        self,
        video_id: int,
        *,
        policy: PlaybackPolicy | None = None,
        playback_id: str | None = None,
    ) -> bool:
        fields: dict = {"updated_at": Now()}
        if policy is not None:
            fields["playback_policy"] = str(PlaybackPolicy(policy))
        if playback_id is not None:
            fields["playback_id"] = playback_id
        return bool(self._videos.filter(pk=video_id).update(**fields))

    def claim_video(self, video_id: int, worker_id: str, lease_seconds: int | None = None) -> Claim:
        seconds = lease_seconds or self.default_lease_seconds
        with transaction.atomic(using=self.using):
            claimed = self._videos.filter(
                pk=video_id, status=S.UPLOADED, attempts__lt=self.max_attempts
            ).update(
                status=S.PROCESSING,
                leased_by=worker_id,
                leased_until=_now_plus(seconds),
                lease_token=F("lease_token") + 1,
                attempts=F("attempts") + 1,
                processing_started_at=Now(),
                processing_completed_at=None,
                updated_at=Now(),
            )
            if claimed:
                row = self._videos.get(pk=video_id)
                self.events.record(to_record(row))
                return Claim(_lease_of(row))
        return Claim(None, exhausted=self._fail_exhausted(video_id))

    def _fail_exhausted(self, video_id: int) -> bool:
        """UPLOADED with no attempts left -> FAILED (MAX_ATTEMPTS_EXCEEDED), naming the last
        error as the domain words it; fenced on the row we read, so exactly one caller wins."""
        row = (
            self._videos.filter(pk=video_id, status=S.UPLOADED, attempts__gte=self.max_attempts)
            .values("attempts", "lease_token", "error_code", "error_message")
            .first()
        )
        if row is None:
            return False
        return self._change(
            video_id,
            self._videos.filter(
                pk=video_id,
                status=S.UPLOADED,
                attempts=row["attempts"],
                lease_token=row["lease_token"],
                error_code=row["error_code"],
            ),
            status=S.FAILED,
            error_code=ErrorCode.MAX_ATTEMPTS_EXCEEDED,
            error_message=exhausted_message(
                row["attempts"], row["error_code"], row["error_message"]
            ),
            processing_completed_at=Now(),
            updated_at=Now(),
        )

    def renew_lease(self, lease: Lease, seconds: int | None = None) -> Lease | None:
        seconds = seconds or self.default_lease_seconds
        with transaction.atomic(using=self.using):
            if not self._fenced(lease).update(leased_until=_now_plus(seconds), updated_at=Now()):
                return None
            until = self._videos.values_list("leased_until", flat=True).get(pk=lease.video_id)
        return Lease(**{**lease.__dict__, "expires_at": until})

    def complete(self, lease: Lease, result: VideoResult) -> bool:
        return self._change(
            lease.video_id,
            self._fenced(lease),
            **ready_fields(result),
            processing_completed_at=Now(),
            updated_at=Now(),
        )

    def fail(self, lease: Lease, error_code: ErrorCode, message: str, retryable: bool) -> bool:
        failure = fail_outcome(lease.attempt, self.max_attempts, error_code, message, retryable)
        return self._change(
            lease.video_id,
            self._fenced(lease),
            status=failure.status,
            leased_by="",
            leased_until=None,
            error_code=failure.error_code,
            error_message=failure.error_message,
            processing_completed_at=None if failure.will_retry else Now(),
            updated_at=Now(),
        )

    def release(self, lease: Lease, error_code: str = "", message: str = "") -> bool:
        return lease_queries.release(self._fenced(lease), S.UPLOADED, error_code, message)

    def cancel(self, video_id: int) -> bool:
        return self._change(
            video_id,
            self._videos.filter(pk=video_id, status__in=CANCELABLE),
            status=S.CANCELED,
            leased_by="",
            leased_until=None,
            processing_completed_at=Now(),
            updated_at=Now(),
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
            self._videos.filter(pk=video_id, status=S.PROCESSING),
            S.UPLOADED,
            force=force,
            expected_token=expected_token,
            expected_worker=expected_worker,
        )

    def list_processing(self, limit: int = 100) -> list[ProcessingRow]:
        rows = self._videos.filter(status=S.PROCESSING)
        return lease_queries.processing_rows(rows, "pk", self.using, limit)

    def list_stale_uploaded(self, older_than_seconds: int, limit: int = 100) -> list[VideoRecord]:
        rows = self._videos.filter(
            status=S.UPLOADED, updated_at__lt=_now_plus(-older_than_seconds)
        ).order_by("updated_at")
        return [to_record(v) for v in rows[:limit]]

    def mark_enqueued(self, video_id: int, older_than_seconds: int | None = None) -> bool:
        qs = self._videos.filter(pk=video_id, status=S.UPLOADED)
        if older_than_seconds is not None:
            qs = qs.filter(updated_at__lt=_now_plus(-older_than_seconds))
        return bool(qs.update(updated_at=Now()))
