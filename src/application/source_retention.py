"""Source retention (docs/ARCHITECTURE.md, "Cleanup"): with VIDEO_SOURCE_RETENTION_DAYS set,
the uploaded source of a READY video goes that many days after its processing completed.

READY is final: no claim, retry or redelivery reads the source of a READY row again. Each
row is first marked (`source_removed_at`) by a conditional UPDATE that holds only while it is
READY with this source; only then is the source folder deleted. A failed delete takes the
mark back, so the next run tries again. The row keeps its `source_key` (where the source was)
and the API and admin show `source_removed_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from src.application.ports.cleanup_records import CleanupRecords, SourceRow
from src.application.ports.storage import Storage
from src.application.storage_keys import video_prefix
from src.application.upload_cleanup import describe

ROWS_PER_QUERY = 500


@dataclass
class SourceRetentionReport:
    retention_days: int | None
    dry_run: bool = False
    removed: list[int] = field(default_factory=list)  # video ids (dry run: would remove)
    objects: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "retention_days": self.retention_days,
            "removed_videos": list(self.removed),
            "removed_objects": self.objects,
            "errors": list(self.errors),
        }


def source_folder(row: SourceRow) -> str:
    """What to delete: the video's source folder (it holds the source alone), or the key
    itself when the source was stored elsewhere."""
    folder = f"{video_prefix(row.tenant_id, row.video_id)}/source/"
    return folder if row.source_key.startswith(folder) else row.source_key


class SourceRetention:
    def __init__(
        self, storage: Storage, records: CleanupRecords, batch: int = ROWS_PER_QUERY
    ) -> None:
        self.storage = storage
        self.records = records
        self.batch = batch

    def run(self, days: int | None, dry_run: bool) -> SourceRetentionReport:
        report = SourceRetentionReport(retention_days=days, dry_run=dry_run)
        if not days:
            return report
        after = 0
        while True:
            try:
                rows = self.records.sources_past_retention(days, after, self.batch)
            except Exception as exc:  # noqa: BLE001 - reported; the next run goes on
                report.errors.append({"video_id": None, "error": describe(exc)})
                return report
            if not rows:
                return report
            for row in rows:
                after = row.video_id
                if dry_run:
                    report.removed.append(row.video_id)
                    continue
                try:
                    self._remove(row, report)
                except Exception as exc:  # noqa: BLE001 - one video's error stops only it
                    report.errors.append({"video_id": row.video_id, "error": describe(exc)})

    def _remove(self, row: SourceRow, report: SourceRetentionReport) -> None:
        if not self.records.mark_source_removed(row):
            return  # no longer READY with this source: not ours to remove
        try:
            report.objects += self.storage.delete_prefix(source_folder(row))
        except Exception:
            self.records.unmark_source_removed(row)
            raise
        report.removed.append(row.video_id)
