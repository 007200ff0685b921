"""Announce caption track changes to live followers after the write that made them.

`CaptionAnnouncingRepository` wraps any CaptionRepository: each write that took effect (an
automatic track requested, claimed, completed, skipped, failed, released, canceled or
reclaimed; an uploaded track put or a track deleted) is followed by one
`ProgressPort.publish_status(tenant, video, CAPTIONS_CHANGED)` on the video's live channel.
A stream following the video after `ready` reads the tracks again when it hears it
(src/application/live_progress.py); a lost announcement is made up by the stream's re-reads.
Every other attribute (`cues`, `list_tracks`, …) is the wrapped repository's own.
"""

from __future__ import annotations

from typing import Any

from src.application.domain import Lease
from src.application.ports.captions import CaptionRepository, CaptionTrackRecord
from src.application.ports.progress import ProgressPort
from src.application.ports.video_repository import Claim

# The status an announcement carries: not a video status, a "the tracks changed" signal.
CAPTIONS_CHANGED = "CAPTIONS_CHANGED"


class CaptionAnnouncingRepository:
    """A CaptionRepository (by delegation) whose track changes are announced."""

    def __init__(self, inner: CaptionRepository, progress: ProgressPort) -> None:
        self.inner = inner
        self.progress = progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _announce(self, tenant_id: int, video_id: int) -> None:
        self.progress.publish_status(tenant_id, video_id, CAPTIONS_CHANGED)

    def _announce_track(self, track: CaptionTrackRecord | None) -> None:
        if track is not None:
            self._announce(track.tenant_id, track.video_id)

    def request_auto(self, video_id: int, *args: Any, **kwargs: Any) -> CaptionTrackRecord | None:
        track = self.inner.request_auto(video_id, *args, **kwargs)
        self._announce_track(track)
        return track

    def claim_video(self, video_id: int, *args: Any, **kwargs: Any) -> Claim:
        claim = self.inner.claim_video(video_id, *args, **kwargs)
        if claim.lease is not None:
            self._announce(claim.lease.tenant_id, video_id)
        elif claim.exhausted:  # failed for good instead
            self._announce_track(self.inner.get(video_id))
        return claim

    def _by_lease(self, method: str, lease: Lease, *args: Any, **kwargs: Any) -> bool:
        took = getattr(self.inner, method)(lease, *args, **kwargs)
        if took:
            self._announce(lease.tenant_id, lease.video_id)
        return took

    def complete(self, lease: Lease, *args: Any, **kwargs: Any) -> bool:
        return self._by_lease("complete", lease, *args, **kwargs)

    def skip(self, lease: Lease, *args: Any, **kwargs: Any) -> bool:
        return self._by_lease("skip", lease, *args, **kwargs)

    def fail(self, lease: Lease, *args: Any, **kwargs: Any) -> bool:
        return self._by_lease("fail", lease, *args, **kwargs)

    def release(self, lease: Lease, *args: Any, **kwargs: Any) -> bool:
        return self._by_lease("release", lease, *args, **kwargs)

    def _by_id(self, method: str, video_id: int, *args: Any, **kwargs: Any) -> bool:
        took = getattr(self.inner, method)(video_id, *args, **kwargs)
        if took:
            self._announce_track(self.inner.get(video_id))
        return took

    def cancel(self, video_id: int, *args: Any, **kwargs: Any) -> bool:
        return self._by_id("cancel", video_id, *args, **kwargs)

    def try_reclaim_video(self, video_id: int, *args: Any, **kwargs: Any) -> bool:
        return self._by_id("try_reclaim_video", video_id, *args, **kwargs)

    def put_uploaded(self, *args: Any, **kwargs: Any) -> tuple[CaptionTrackRecord, list[str]]:
        track, replaced = self.inner.put_uploaded(*args, **kwargs)
        self._announce_track(track)
        return track, replaced

    def delete_track(self, track_id: int, *args: Any, **kwargs: Any) -> CaptionTrackRecord | None:
        removed = self.inner.delete_track(track_id, *args, **kwargs)
        self._announce_track(removed)
        return removed
