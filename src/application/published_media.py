"""Published media: the files of a READY video's published output, served by /media/ when no
CDN (VIDEO_PUBLIC_BASE_URL) serves them.

Only files under the folder of the row's `hls_key` are published: another tenant's path, an
unpublished claim's prefix, a source, or anything else is not.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from src.application.domain import VideoStatus
from src.application.ports.storage import Storage
from src.application.ports.video_repository import VideoRepository

_PUBLISHED = re.compile(r"^tenants/(\d{1,19})/videos/(\d{1,19})/hls/\d{1,19}/[A-Za-z0-9._/-]+$")


class PublishedMedia:
    def __init__(self, repository: VideoRepository, storage: Storage) -> None:
        self.repository = repository
        self.storage = storage

    def published(self, key: str) -> bool:
        """Whether `key` is a file of a READY video's published output."""
        match = _PUBLISHED.match(key)
        if not match or ".." in key.split("/"):
            return False
        tenant_id, video_id = int(match.group(1)), int(match.group(2))
        row = self.repository.get(video_id)
        if row is None or row.tenant_id != tenant_id or row.status != VideoStatus.READY:
            return False
        folder = posixpath.dirname(row.hls_key)
        return bool(row.hls_key) and key.startswith(folder + "/")

    def size(self, key: str) -> int:
        """The file's size in bytes; FileNotFoundError when it is gone."""
        return self.storage.size(key)

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (inclusive), in pieces of bounded size."""
        return self.storage.read_range(key, start, end)
