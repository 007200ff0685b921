"""Keep a video's master playlist in step with its READY caption tracks.

Called after every change of a track (a caption job completing, an upload, a delete). Under
the repository's per-video lock it reads the tracks and the stored master, and when the
subtitle group differs writes the new master in one object write (a rename on local disks,
one PUT on S3): a player reads the old master or the new one, never half of either.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import structlog

from src.application.hls_subtitles import renditions_for, with_subtitles
from src.application.ports.captions import CaptionRepository, CaptionTrackRecord
from src.application.ports.storage import Storage
from src.application.ports.video_repository import VideoRepository

# A master playlist is a few hundred bytes; anything past this is not one of ours.
MAX_MASTER_BYTES = 1024 * 1024


def read_text(storage: Storage, key: str, limit: int = MAX_MASTER_BYTES) -> str:
    size = storage.size(key)
    if size > limit:
        raise ValueError(f"{key} is {size} bytes, more than a playlist holds")
    return b"".join(storage.read_range(key, 0, size - 1)).decode("utf-8") if size else ""


class SubtitleMaster:
    def __init__(
        self, captions: CaptionRepository, videos: VideoRepository, storage: Storage
    ) -> None:
        self.captions = captions
        self.videos = videos
        self.storage = storage

    def refresh(self, video_id: int, coming: CaptionTrackRecord | None = None) -> bool:
        """Rewrite the master if its subtitle group is out of date; whether it was written.

        `coming` is a track about to become READY (its files are stored): listed already, so
        a player that reads the master once the row says READY finds the track.
        """
        with self.captions.master_lock(video_id):
            video = self.videos.get(video_id)
            if video is None or not video.hls_key:
                return False
            tracks = self.captions.list_tracks(video_id)
            if coming is not None:
                tracks = [t for t in tracks if t.id != coming.id] + [coming]
            current = read_text(self.storage, video.hls_key)
            wanted = with_subtitles(current, renditions_for(video.hls_key, tracks))
            if wanted == current:
                return False
            with tempfile.TemporaryDirectory(prefix="academy-master-") as tmp:
                path = Path(tmp) / "master.m3u8"
                path.write_text(wanted, encoding="utf-8")
                self.storage.put_file(path, video.hls_key)
        structlog.get_logger().info(
            "CAPTIONS_MASTER_UPDATED",
            video_id=video_id,
            tracks=sum(1 for line in wanted.splitlines() if "TYPE=SUBTITLES" in line),
        )
        return True

    def discard(self, prefix: str) -> None:
        """Best effort: files no row names are only waste (a later sweep removes them too)."""
        try:
            self.storage.delete_prefix(prefix.rstrip("/") + "/")
        except Exception as exc:  # noqa: BLE001 - the caller's own outcome is the one to report
            structlog.get_logger().warning(
                "CAPTIONS_CLEANUP_FAILED", prefix=prefix, error=f"{type(exc).__name__}: {exc}"
            )
