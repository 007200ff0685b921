"""Reconcile: hand videos whose worker died back to the queue, and re-send lost job messages.

The rows are the truth (docs/ARCHITECTURE.md, invariants 4, 5 and 9). One pass:

1. Videos whose re-send failed on an earlier pass of this Reconciler (loop mode) are sent
   again first: they are UPLOADED with a fresh `updated_at`, so rule 3 would only see them a
   whole VIDEO_REENQUEUE_AFTER_SECONDS later.
2. PROCESSING rows whose worker is gone go back to UPLOADED and get one new message:
   - the lease expired on the database clock: the conditional UPDATE decides;
   - the lease still runs but the heartbeat key is missing, past a grace of one heartbeat
     interval after the claim (the first beat lands just after it): the heartbeat is read
     again right before a forced UPDATE fenced on the claim we looked at (leased_by and
     lease_token), so a worker that renewed, finished or was replaced is never touched.
   Redis down is not a missing heartbeat: then only expired leases are reclaimed and the
   report says so (`redis_available` False and a note).
3. UPLOADED rows unchanged for VIDEO_REENQUEUE_AFTER_SECONDS (an enqueue that was lost, or a
   re-send that failed in a single run) get one new message. The row is touched first by a
   conditional UPDATE (`mark_enqueued`): two reconcilers never both re-send it, and the same
   row is not re-sent every tick. Duplicates would be harmless anyway: the claim decides.

4. AWAITING_UPLOAD rows whose upload expired (VIDEO_UPLOAD_TTL_SECONDS after creation, on
   the database clock) become CANCELED with UPLOAD_EXPIRED, each by one conditional UPDATE;
   what the client had stored of them (an unfinished multipart upload, a partial source) is
   removed.

A failed send leaves the row UPLOADED: this Reconciler retries it on its next pass, and rule
3 catches it one period later whatever happens to this process.

Two reconcilers may run at once: every state change is a conditional UPDATE, so each video
is reclaimed (and re-sent) by exactly one of them.

A Redis that lost its keys (restart without persistence) makes live jobs look dead until
their workers' next beat, TTL/3 later. Reclaiming them is safe (their writes are fenced: they
log VIDEO_LEASE_LOST and publish nothing); the cost is the work redone.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from src.application.domain import VideoStatus
from src.application.domain.redaction import redact_url_credentials
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
from src.application.ports.queue import VideoQueue
from src.application.ports.storage import DirectUploads, Storage
from src.application.ports.video_repository import ProcessingRow, VideoRepository

# The first heartbeat lands just after the claim; on a loaded machine that can take a moment,
# so a claim younger than this is never judged by its heartbeat, whatever the TTL.
MIN_HEARTBEAT_GRACE_SECONDS = 2.0

# Why a video was reclaimed or re-sent.
LEASE_EXPIRED = "lease_expired"
HEARTBEAT_MISSING = "heartbeat_missing"
FORCED = "forced"
RECLAIMED = "reclaimed"
STALE_UPLOADED = "stale_uploaded"
ENQUEUE_RETRY = "enqueue_retry"
UPLOAD_EXPIRED = "upload_expired"

# Why a video was left alone.
HEARTBEAT_ALIVE = "heartbeat_alive"
HEARTBEAT_GRACE = "heartbeat_grace"
HEARTBEAT_RETURNED = "heartbeat_returned"
LEASE_LIVE_REDIS_DOWN = "lease_live_redis_unavailable"
NOT_RECLAIMABLE = "claim_changed"  # renewed, finished, canceled or reclaimed by someone else
NOT_PROCESSING = "not_processing"
NO_LONGER_STALE = "no_longer_stale"  # claimed, or re-sent by another reconciler meanwhile
NO_LONGER_UPLOADED = "no_longer_uploaded"

REDIS_DOWN_NOTE = (
    "Redis unavailable: heartbeats could not be read, so only PROCESSING videos whose lease "
    "expired were reclaimed (a heartbeat that cannot be read is not a missing one)"
)


def heartbeat_grace(heartbeat_interval: float) -> float:
    """The grace after a claim before a missing heartbeat counts: one refresh interval."""
    return max(float(heartbeat_interval), MIN_HEARTBEAT_GRACE_SECONDS)


@dataclass
class VideoAction:
    """What one pass did (or, in a dry run, would do) to one video, and why."""

    video_id: int
    tenant_id: int | None
    action: str  # reclaimed, reenqueued, skipped, error; would_reclaim, would_reenqueue
    reason: str
    leased_by: str = ""
    lease_token: int | None = None
    request_id: str = ""
    message_id: str = ""


@dataclass
class ReconcileReport:
    dry_run: bool = False
    forced: bool = False
    redis_available: bool = True
    reclaimed: list[int] = field(default_factory=list)
    reenqueued: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    actions: list[VideoAction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def skip(self, video_id: int, tenant_id: int | None, reason: str, **extra: Any) -> None:
        self.skipped.append({"video_id": video_id, "reason": reason})
        self.actions.append(VideoAction(video_id, tenant_id, "skipped", reason, **extra))

    def error(self, video_id: int | None, stage: str, exc: BaseException | str) -> None:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        text = redact_url_credentials(text)  # printed on stdout/stderr, not only logged
        self.errors.append({"video_id": video_id, "stage": stage, "error": text[:500]})
        if video_id is not None:
            self.actions.append(VideoAction(video_id, None, "error", f"{stage}: {text[:200]}"))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def skipped_reasons(self) -> dict[str, int]:
        return dict(Counter(s["reason"] for s in self.skipped))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "redis_available": self.redis_available,
            "reclaimed": list(self.reclaimed),
            "reenqueued": list(self.reenqueued),
            "expired": list(self.expired),
            "skipped": list(self.skipped),
            "errors": list(self.errors),
            "actions": [asdict(a) for a in self.actions],
            "notes": list(self.notes),
            "duration_ms": self.duration_ms,
        }


class Reconciler:
    def __init__(
        self,
        repository: VideoRepository,
        queue: VideoQueue,
        progress: ProgressPort,
        *,
        heartbeat_grace_seconds: float,
        reenqueue_after_seconds: int,
        limit: int = 100,
        storage: Storage | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.repository = repository
        self.queue = queue
        self.progress = progress
        self.heartbeat_grace_seconds = heartbeat_grace_seconds
        self.reenqueue_after_seconds = reenqueue_after_seconds
        self.limit = limit
        self.storage = storage  # to remove what expired uploads left; None: rows only
        # video_id -> tenant_id of re-sends that failed: retried first on the next pass.
        self.failed_enqueues: dict[int, int] = {}
        self._queue_down = False

    def run_once(self, dry_run: bool = False, force_video_id: int | None = None) -> ReconcileReport:
        """One pass; never raises for a database, queue or Redis error: the report lists them."""
        started = time.monotonic()
        report = ReconcileReport(dry_run=dry_run, forced=force_video_id is not None)
        self._queue_down = False
        if force_video_id is not None:
            self._force(force_video_id, report)
        else:
            done: set[int] = set()
            self._retry_failed_enqueues(report, done)
            self._reclaim_dead(report, done)
            self._reenqueue_stale(report, done)
            self._expire_uploads(report)
        if not report.redis_available:
            report.note(REDIS_DOWN_NOTE)
        report.duration_ms = int((time.monotonic() - started) * 1000)
        return report

    # -- 1. re-sends that failed on an earlier pass ------------------------------------------
    def _retry_failed_enqueues(self, report: ReconcileReport, done: set[int]) -> None:
        for video_id, tenant_id in list(self.failed_enqueues.items()):
            done.add(video_id)
            if report.dry_run:
                report.actions.append(
                    VideoAction(video_id, tenant_id, "would_reenqueue", ENQUEUE_RETRY)
                )
                continue
            try:
                still_uploaded = self.repository.mark_enqueued(video_id)
            except Exception as exc:  # noqa: BLE001 - database down: keep it for the next pass
                report.error(video_id, "mark_enqueued", exc)
                continue
            if not still_uploaded:  # claimed (its old message came back) or canceled meanwhile
                self.failed_enqueues.pop(video_id, None)
                report.skip(video_id, tenant_id, NO_LONGER_UPLOADED)
                continue
            self._enqueue(video_id, tenant_id, ENQUEUE_RETRY, report)

    # -- 4. direct uploads never completed ----------------------------------------------------
    def _expire_uploads(self, report: ReconcileReport) -> None:
        if report.dry_run:
            return  # expiry is one UPDATE per row: nothing to preview without doing it
        try:
            expired = self.repository.expire_uploads(self.limit)
        except Exception as exc:  # noqa: BLE001 - reported; the next pass tries again
            report.error(None, "expire_uploads", exc)
            return
        for row in expired:
            report.expired.append(row.id)
            report.actions.append(VideoAction(row.id, row.tenant_id, "expired", UPLOAD_EXPIRED))
            if self.storage is None:
                continue
            try:
                if row.upload_id and isinstance(self.storage, DirectUploads):
                    self.storage.abort_multipart(row.source_key, row.upload_id)
                if row.source_key:
                    self.storage.delete_prefix(row.source_key)
            except Exception as exc:  # noqa: BLE001 - the row is CANCELED; leftovers are reported
                report.error(row.id, "expire_cleanup", exc)

    # -- 2. PROCESSING rows whose worker is gone ---------------------------------------------
    def _reclaim_dead(self, report: ReconcileReport, done: set[int]) -> None:
        try:
            rows = self.repository.list_processing(self.limit)
        except Exception as exc:  # noqa: BLE001 - reported; the command exits 1 or retries
            report.error(None, "list_processing", exc)
            return
        for row in rows:
            done.add(row.video_id)
            try:
                self._consider(row, report)
            except Exception as exc:  # noqa: BLE001 - one row's failure must not stop the pass
                report.error(row.video_id, "reclaim", exc)

    def _consider(self, row: ProcessingRow, report: ReconcileReport) -> None:
        claim = {"leased_by": row.leased_by, "lease_token": row.lease_token}
        if row.lease_expired:
            reason = LEASE_EXPIRED
        else:
            beat = self._heartbeat(row, report)
            if beat is None:
                report.skip(row.video_id, row.tenant_id, LEASE_LIVE_REDIS_DOWN, **claim)
                return
            if beat:
                report.skip(row.video_id, row.tenant_id, HEARTBEAT_ALIVE, **claim)
                return
            if row.seconds_since_started < self.heartbeat_grace_seconds:
                report.skip(row.video_id, row.tenant_id, HEARTBEAT_GRACE, **claim)
                return
            reason = HEARTBEAT_MISSING
        if report.dry_run:
            report.actions.append(
                VideoAction(row.video_id, row.tenant_id, "would_reclaim", reason, **claim)
            )
            return
        if reason == HEARTBEAT_MISSING:
            # The lease says alive, Redis says dead: read Redis again just before overriding
            # the lease, and let the UPDATE refuse a claim other than the one we looked at.
            beat = self._heartbeat(row, report)
            if beat is None or beat:
                why = LEASE_LIVE_REDIS_DOWN if beat is None else HEARTBEAT_RETURNED
                report.skip(row.video_id, row.tenant_id, why, **claim)
                return
        took = self.repository.try_reclaim_video(
            row.video_id,
            force=reason == HEARTBEAT_MISSING,
            expected_token=row.lease_token,
            expected_worker=row.leased_by,
        )
        if not took:
            report.skip(row.video_id, row.tenant_id, NOT_RECLAIMABLE, **claim)
            return
        report.reclaimed.append(row.video_id)
        report.actions.append(
            VideoAction(row.video_id, row.tenant_id, "reclaimed", reason, **claim)
        )
        self._enqueue(row.video_id, row.tenant_id, RECLAIMED, report)

    def _heartbeat(self, row: ProcessingRow, report: ReconcileReport) -> bool | None:
        """Whether the heartbeat key exists; None when Redis cannot tell (not the same as no)."""
        if not report.redis_available:
            return None  # one timeout per pass is enough
        try:
            return self.progress.has_heartbeat(row.tenant_id, row.video_id)
        except TelemetryUnavailable:
            report.redis_available = False
            return None

    # -- 3. lost enqueues ----------------------------------------------------------------------
    def _reenqueue_stale(self, report: ReconcileReport, done: set[int]) -> None:
        try:
            rows = self.repository.list_stale_uploaded(self.reenqueue_after_seconds, self.limit)
        except Exception as exc:  # noqa: BLE001 - reported; the command exits 1 or retries
            report.error(None, "list_stale_uploaded", exc)
            return
        for rec in rows:
            if rec.id in done:
                continue
            done.add(rec.id)
            if report.dry_run:
                report.actions.append(
                    VideoAction(rec.id, rec.tenant_id, "would_reenqueue", STALE_UPLOADED)
                )
                continue
            try:
                won = self.repository.mark_enqueued(rec.id, self.reenqueue_after_seconds)
            except Exception as exc:  # noqa: BLE001 - one row's failure must not stop the pass
                report.error(rec.id, "mark_enqueued", exc)
                continue
            if not won:
                report.skip(rec.id, rec.tenant_id, NO_LONGER_STALE)
                continue
            self._enqueue(rec.id, rec.tenant_id, STALE_UPLOADED, report)

    # -- operator override -------------------------------------------------------------------
    def _force(self, video_id: int, report: ReconcileReport) -> None:
        try:
            rec = self.repository.get(video_id)
            if rec is None:
                report.error(video_id, "force", "no such video")
                return
            claim = {"leased_by": rec.leased_by, "lease_token": rec.lease_token}
            if rec.status != VideoStatus.PROCESSING:
                report.skip(video_id, rec.tenant_id, f"{NOT_PROCESSING}:{rec.status}", **claim)
                return
            if report.dry_run:
                report.actions.append(
                    VideoAction(video_id, rec.tenant_id, "would_reclaim", FORCED, **claim)
                )
                return
            took = self.repository.try_reclaim_video(
                video_id, force=True, expected_token=rec.lease_token
            )
        except Exception as exc:  # noqa: BLE001 - reported; the command exits 1
            report.error(video_id, "force", exc)
            return
        if not took:
            report.skip(video_id, rec.tenant_id, NOT_RECLAIMABLE, **claim)
            return
        report.reclaimed.append(video_id)
        report.actions.append(VideoAction(video_id, rec.tenant_id, "reclaimed", FORCED, **claim))
        self._enqueue(video_id, rec.tenant_id, RECLAIMED, report)

    # -- sending -------------------------------------------------------------------------------
    def _enqueue(self, video_id: int, tenant_id: int, reason: str, report: ReconcileReport) -> None:
        """Send one job message; on failure remember the video for the next pass."""
        if self._queue_down:
            # SQS failed earlier in this pass: each further try would spend its retries too.
            self.failed_enqueues[video_id] = tenant_id
            report.error(video_id, "enqueue", "not attempted: the queue failed earlier this pass")
            return
        request_id = str(uuid.uuid4())
        try:
            message_id = self.queue.send(video_id, tenant_id, request_id)
        except Exception as exc:  # noqa: BLE001 - any SQS failure: retried next pass
            self._queue_down = True
            self.failed_enqueues[video_id] = tenant_id
            report.error(video_id, "enqueue", exc)
            return
        self.failed_enqueues.pop(video_id, None)
        report.reenqueued.append(video_id)
        report.actions.append(
            VideoAction(
                video_id,
                tenant_id,
                "reenqueued",
                reason,
                request_id=request_id,
                message_id=str(message_id),
            )
        )
