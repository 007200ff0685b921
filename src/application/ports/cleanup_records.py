"""The records cleanup reads and changes (docs/ARCHITECTURE.md, "Cleanup"): videos' output
tokens, the uploads live rows still own, READY sources past retention, and the housekeeping
of the API's idempotency records and the webhook delivery log."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutputRow:
    """What decides which of a video's output prefixes stay."""

    video_id: int
    tenant_id: int
    lease_token: int
    hls_key: str
    # The video's secret media salt (its outputs' folders are derived from it); "" for a
    # caller that knows none: only the legacy `tenants/…/hls/` layout is then swept.
    media_salt: str = field(default="", repr=False)


@dataclass(frozen=True)
class SourceRow:
    """A READY video whose source may be removed."""

    video_id: int
    tenant_id: int
    source_key: str


class CleanupRecords(abc.ABC):
    @abc.abstractmethod
    def output_rows(self) -> Iterable[OutputRow]:
        """Every video, in id order."""

    @abc.abstractmethod
    def live_upload_prefixes(self) -> set[str]:
        """`tenants/{t}/videos/{v}/` of every AWAITING_UPLOAD row whose upload has not
        expired (on the database clock): what they are uploading must stay."""

    @abc.abstractmethod
    def sources_past_retention(self, days: int, after_id: int, limit: int) -> list[SourceRow]:
        """READY rows with a source, not yet removed, whose processing completed more than
        `days` ago (database clock); ids above `after_id`, in id order, at most `limit`."""

    @abc.abstractmethod
    def mark_source_removed(self, row: SourceRow) -> bool:
        """Record that the source is gone, by one conditional UPDATE: only while the row is
        READY with this source and not yet marked. False: the row changed; leave it."""

    @abc.abstractmethod
    def unmark_source_removed(self, row: SourceRow) -> None:
        """Undo `mark_source_removed` after the object could not be deleted."""

    @abc.abstractmethod
    def prune_idempotency_records(self, dry_run: bool) -> int:
        """Delete Idempotency-Key records past their retention; how many (dry run: would)."""

    @abc.abstractmethod
    def prune_webhook_deliveries(self, dry_run: bool) -> tuple[int, int]:
        """Delete finished webhook deliveries past VIDEO_WEBHOOK_RETENTION_DAYS, then events
        left without one; (deliveries, events) removed (dry run: would be)."""
