"""Output prefixes left by claims that did not complete (docs/ARCHITECTURE.md, "Cleanup").

Each claim writes below `…/hls/{lease_token}/`. A prefix is removed only when all of these
hold: its token is not the one the row's `hls_key` points to (the published output), it is
not the row's current `lease_token` (a live claim may still be writing there: the fence), and
nothing was written below it for `grace_seconds` (a claim that lost its lease may still be
uploading for a moment before its fenced write fails).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from src.application.ports.cleanup_records import OutputRow
from src.application.ports.storage import Storage
from src.application.storage_keys import video_prefix

__all__ = ["CleanupReport", "OutputCleanup", "OutputRow", "published_token"]

_TOKEN_IN_KEY = re.compile(r"/hls/(\d+)/")


@dataclass
class CleanupReport:
    dry_run: bool = False
    removed: list[str] = field(default_factory=list)  # prefixes (dry run: would remove)
    objects: int = 0
    kept_recent: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "removed_prefixes": list(self.removed),
            "removed_objects": self.objects,
            "kept_recent": list(self.kept_recent),
            "errors": list(self.errors),
        }


def published_token(hls_key: str) -> int | None:
    match = _TOKEN_IN_KEY.search(hls_key or "")
    return int(match.group(1)) if match else None


class OutputCleanup:
    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.clock = clock

    def run(self, rows: Iterable[OutputRow], grace_seconds: float, dry_run: bool) -> CleanupReport:
        report = CleanupReport(dry_run=dry_run)
        for row in rows:
            try:
                self._row(row, grace_seconds, report)
            except Exception as exc:  # noqa: BLE001 - one video's storage error stops only it
                report.errors.append(
                    {"video_id": row.video_id, "error": f"{type(exc).__name__}: {exc}"[:300]}
                )
        return report

    def _row(self, row: OutputRow, grace_seconds: float, report: CleanupReport) -> None:
        hls_root = f"{video_prefix(row.tenant_id, row.video_id)}/hls/"
        tokens = {
            int(m.group(1))
            for key in self.storage.list_keys(hls_root)
            if (m := _TOKEN_IN_KEY.search(key))
        }
        keep = {row.lease_token, published_token(row.hls_key)}
        for token in sorted(tokens - keep):
            prefix = f"{hls_root}{token}/"
            newest = self.storage.newest_write(prefix)
            if newest is None:
                continue
            if self.clock() - newest < grace_seconds:
                report.kept_recent.append(prefix)
                continue
            report.removed.append(prefix)
            if not report.dry_run:
                report.objects += self.storage.delete_prefix(prefix)
