"""One cleanup run, every part (docs/ARCHITECTURE.md, "Cleanup"): dead claims' output
prefixes (output_cleanup), abandoned uploads (upload_cleanup), Idempotency-Key records and
finished webhook deliveries past their retention, and, when VIDEO_SOURCE_RETENTION_DAYS is
set, sources of READY videos (source_retention). `manage.py cleanup_videos` and reconcile's
loop run it. A part that fails is reported and the others still run; a dry run changes
nothing and reports what would go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from src.application.output_cleanup import CleanupReport, OutputCleanup
from src.application.ports.cleanup_records import CleanupRecords
from src.application.ports.storage import Storage
from src.application.source_retention import SourceRetention, SourceRetentionReport
from src.application.upload_cleanup import UploadCleanup, UploadCleanupReport, describe


@dataclass(frozen=True)
class CleanupPolicy:
    output_grace_seconds: float  # keep an output prefix written to within this
    upload_ttl_seconds: float  # VIDEO_UPLOAD_TTL_SECONDS
    source_retention_days: int | None  # VIDEO_SOURCE_RETENTION_DAYS; None: sources stay


@dataclass
class VideoCleanupReport:
    dry_run: bool
    outputs: CleanupReport
    uploads: UploadCleanupReport
    sources: SourceRetentionReport
    idempotency_records: int = 0
    webhook_deliveries: int = 0
    webhook_events: int = 0
    part_errors: list[dict[str, Any]] = field(default_factory=list)  # a whole part failed

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every error, each naming its part."""
        return [
            *({"part": "outputs", **e} for e in self.outputs.errors),
            *({"part": "uploads", **e} for e in self.uploads.errors),
            *({"part": "sources", **e} for e in self.sources.errors),
            *self.part_errors,
        ]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        outputs = self.outputs.to_dict()
        del outputs["dry_run"]
        return {
            "dry_run": self.dry_run,
            "outputs": outputs,
            "uploads": self.uploads.to_dict(),
            "idempotency_records": {"removed": self.idempotency_records},
            "webhook_deliveries": {
                "removed_deliveries": self.webhook_deliveries,
                "removed_events": self.webhook_events,
            },
            "sources": self.sources.to_dict(),
            "errors": self.errors,
        }

    def summary(self) -> list[str]:
        """The human report: one line per part, then what went and what failed."""
        verb = "would remove" if self.dry_run else "removed"
        out, up, src = self.outputs, self.uploads, self.sources
        lines = [
            f"outputs: {verb} {len(out.removed)} prefixes"
            + ("" if self.dry_run else f" ({out.objects} objects)")
            + f"; {len(out.kept_recent)} kept (written within the grace period)",
            f"uploads: {'would abort' if self.dry_run else 'aborted'} {len(up.aborted)}"
            f" abandoned; {len(up.kept_live)} kept (owned by an upload still open)",
            f"idempotency records: {verb} {self.idempotency_records}",
            f"webhook deliveries: {verb} {self.webhook_deliveries} ({self.webhook_events} events)",
            f"sources: {verb} {len(src.removed)} (READY more than {src.retention_days} days)"
            if src.retention_days
            else "sources: kept (VIDEO_SOURCE_RETENTION_DAYS is not set)",
        ]
        lines += [f"  {prefix}" for prefix in out.removed]
        lines += [f"  {u['key']}" for u in up.aborted]
        lines += [f"  video {vid}: source" for vid in src.removed]
        lines += [f"error ({e['part']}): {e['error']}" for e in self.errors]
        return lines


class VideoCleanup:
    def __init__(
        self, storage: Storage, records: CleanupRecords, clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.records = records
        self.clock = clock

    def run(self, policy: CleanupPolicy, dry_run: bool) -> VideoCleanupReport:
        report = VideoCleanupReport(
            dry_run=dry_run,
            outputs=CleanupReport(dry_run=dry_run),
            uploads=UploadCleanupReport(dry_run=dry_run),
            sources=SourceRetentionReport(policy.source_retention_days, dry_run=dry_run),
        )
        try:
            report.outputs = OutputCleanup(self.storage, self.clock).run(
                self.records.output_rows(), policy.output_grace_seconds, dry_run
            )
        except Exception as exc:  # noqa: BLE001 - the rows could not be read; go on
            report.part_errors.append({"part": "outputs", "error": describe(exc)})
        report.uploads = UploadCleanup(self.storage, self.records, self.clock).run(
            policy.upload_ttl_seconds, dry_run
        )
        try:
            report.idempotency_records = self.records.prune_idempotency_records(dry_run)
        except Exception as exc:  # noqa: BLE001 - a database error; the next run tries again
            report.part_errors.append({"part": "idempotency_records", "error": describe(exc)})
        try:
            pruned = self.records.prune_webhook_deliveries(dry_run)
            report.webhook_deliveries, report.webhook_events = pruned
        except Exception as exc:  # noqa: BLE001 - a database error; the next run tries again
            report.part_errors.append({"part": "webhook_deliveries", "error": describe(exc)})
        report.sources = SourceRetention(self.storage, self.records).run(
            policy.source_retention_days, dry_run
        )
        return report
