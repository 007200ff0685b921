"""Published media: the files of a READY video's published output, found by playback id and
served by /media/ (apps/api/playback/media.py decides who may have them).

A file is published when it lies below the folder of the row's `hls_key`: another claim's
prefix, a source, or anything else is not reachable, whatever the path asks for.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from src.application.domain import VideoStatus
from src.application.domain.playback import is_playback_id
from src.application.ports.storage import Storage
from src.application.ports.video_repository import VideoRecord, VideoRepository


class PublishedMedia:
    def __init__(self, repository: VideoRepository, storage: Storage) -> None:
        self.repository = repository
        self.storage = storage

    def video(self, playback_id: str) -> VideoRecord | None:
        """The video whose current playback id this is (any status), or None."""
        if not is_playback_id(playback_id):
            return None
        return self.repository.get_by_playback_id(playback_id)

    @staticmethod
    def published(video: VideoRecord) -> bool:
        return video.status == VideoStatus.READY and bool(video.hls_key)

    @staticmethod
    def key(video: VideoRecord, relative: str) -> str:
        """The storage key of `relative` (a checked path) in the video's published folder."""
        return f"{posixpath.dirname(video.hls_key)}/{relative}"

    def size(self, key: str) -> int:
        """The file's size in bytes; FileNotFoundError when it is gone."""
        return self.storage.size(key)

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (inclusive), in pieces of bounded size."""
        return self.storage.read_range(key, start, end)
