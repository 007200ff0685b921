"""Abandoned uploads (docs/ARCHITECTURE.md, "Cleanup"): S3 multipart uploads never completed
nor aborted, and the temporary files a local write leaves when its process dies.

An upload is aborted only when nothing was written to it for VIDEO_UPLOAD_TTL_SECONDS (its
start, or its newest part: a transfer in progress keeps writing parts) and no AWAITING_UPLOAD
row still owns it within its TTL: an upload below the video prefix of such a row stays
whatever its age. What is left is an upload whose row was canceled, deleted or expired while
the abort failed, or one with no row at all (a process killed mid-transfer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from src.application.ports.cleanup_records import CleanupRecords
from src.application.ports.storage import Storage


def describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


@dataclass
class UploadCleanupReport:
    dry_run: bool = False
    aborted: list[dict[str, str]] = field(default_factory=list)  # dry run: would abort
    kept_live: list[str] = field(default_factory=list)  # keys a live row owns
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "aborted": list(self.aborted),
            "kept_live": list(self.kept_live),
            "errors": list(self.errors),
        }


class UploadCleanup:
    def __init__(
        self, storage: Storage, records: CleanupRecords, clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.records = records
        self.clock = clock

    def run(self, ttl_seconds: float, dry_run: bool) -> UploadCleanupReport:
        report = UploadCleanupReport(dry_run=dry_run)
        try:
            uploads = self.storage.unfinished_uploads(self.clock() - ttl_seconds)
            # Read after the listing: a row created since then owns only uploads younger than
            # the TTL, which the listing left out.
            live = tuple(self.records.live_upload_prefixes()) if uploads else ()
        except Exception as exc:  # noqa: BLE001 - nothing is aborted without knowing the owners
            report.errors.append({"key": None, "error": describe(exc)})
            return report
        for upload in uploads:
            if upload.key.startswith(live):
                report.kept_live.append(upload.key)
                continue
            try:
                if not dry_run:
                    self.storage.abort_unfinished(upload)
            except Exception as exc:  # noqa: BLE001 - one upload's error stops only it
                report.errors.append({"key": upload.key, "error": describe(exc)})
                continue
            report.aborted.append({"key": upload.key, "upload_id": upload.upload_id})
        return report
