"""Output prefixes left by claims that did not complete (docs/ARCHITECTURE.md, "Cleanup").

Each claim writes below its own folder of the video's `media/{video folder}/` (derived from
the row's secret media salt: storage_keys.job_output_prefix). Rows published before that
layout have their output below `tenants/{t}/videos/{v}/hls/{lease_token}/`: both roots are
swept. A claim's folder is removed only when all of these hold: it is not the folder of the
row's `hls_key` (the published output), it is not the folder of the row's current
`lease_token` (a live claim may still be writing there: the fence), and nothing was written
below it for `grace_seconds` (a claim that lost its lease may still be uploading for a moment
before its fenced write fails).
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from src.application.ports.cleanup_records import OutputRow
from src.application.ports.storage import Storage
from src.application.storage_keys import claim_folder, legacy_output_root, media_video_prefix

__all__ = ["CleanupReport", "OutputCleanup", "OutputRow", "claim_folders"]


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


def claim_folders(row: OutputRow) -> list[tuple[str, set[str]]]:
    """Each root a video's claims write below (`…/` included), with the folder names in it
    that stay whatever their age: the live claim's and the published one's."""
    published = posixpath.dirname(row.hls_key or "") + "/"
    roots: list[tuple[str, set[str]]] = []
    if row.media_salt:
        root = media_video_prefix(row.media_salt) + "/"
        keep = {claim_folder(row.media_salt, row.lease_token)} if row.lease_token > 0 else set()
        roots.append((root, keep))
    # The layout before the media salt: a claim of an older worker may still write there.
    roots.append((legacy_output_root(row.tenant_id, row.video_id), {str(row.lease_token)}))
    for root, keep in roots:
        if published.startswith(root):
            keep.add(published[len(root) :].split("/", 1)[0])
    return roots


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
        for root, keep in claim_folders(row):
            folders = {
                key[len(root) :].split("/", 1)[0]
                for key in self.storage.list_keys(root)
                if "/" in key[len(root) :]
            }
            for folder in sorted(folders - keep):
                self._sweep(f"{root}{folder}/", grace_seconds, report)

    def _sweep(self, prefix: str, grace_seconds: float, report: CleanupReport) -> None:
        newest = self.storage.newest_write(prefix)
        if newest is None:
            return
        if self.clock() - newest < grace_seconds:
            report.kept_recent.append(prefix)
            return
        report.removed.append(prefix)
        if not report.dry_run:
            report.objects += self.storage.delete_prefix(prefix)
