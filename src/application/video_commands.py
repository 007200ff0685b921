"""Changing a video after its upload: cancel, retry, delete.

Each is one conditional UPDATE on the row (the repository's contract), so a request racing a
worker either wins or is told the status it lost to. A worker that holds a canceled video
notices at its next lease renewal (the fenced renewal fails), stops ffmpeg and publishes
nothing; its late writes are fenced out anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from src.application.direct_upload import owned_video
from src.application.domain import VideoStatus
from src.application.ports.queue import VideoQueue
from src.application.ports.storage import DirectUploads, Storage
from src.application.ports.video_repository import (
    CANCELABLE,
    RETRYABLE,
    VideoRecord,
    VideoRepository,
)
from src.application.storage_keys import media_video_prefix, video_prefix
from src.application.video_errors import InvalidVideoState, VideoNotFound


@dataclass(frozen=True)
class Retried:
    video: VideoRecord
    enqueued: bool
    message_id: str = ""
    enqueue_error: str = ""


class VideoCommands:
    def __init__(self, repository: VideoRepository, storage: Storage, queue: VideoQueue) -> None:
        self.repository = repository
        self.storage = storage
        self.queue = queue

    def cancel(self, tenant_id: int, video_id: int) -> VideoRecord:
        """AWAITING_UPLOAD / UPLOADED / PROCESSING -> CANCELED; InvalidVideoState otherwise."""
        row = owned_video(self.repository, tenant_id, video_id)
        if row.status == VideoStatus.CANCELED:
            return row  # asking twice changes nothing
        if row.status not in CANCELABLE or not self.repository.cancel(video_id):
            current = owned_video(self.repository, tenant_id, video_id)
            if current.status == VideoStatus.CANCELED:
                return current
            raise InvalidVideoState(f"video {video_id} is {current.status}: it cannot be canceled")
        self._abort_multipart(row)
        if row.status == VideoStatus.AWAITING_UPLOAD and row.source_key:
            # A source stored but never confirmed is never processed: remove it with the
            # upload (a PUT still running removes its own when it sees the cancel).
            self.storage.delete_prefix(row.source_key)
        return owned_video(self.repository, tenant_id, video_id)

    def retry(self, tenant_id: int, video_id: int, trace_id: str = "") -> Retried:
        """FAILED / CANCELED (with an uploaded source) -> UPLOADED, attempts reset, enqueued."""
        row = owned_video(self.repository, tenant_id, video_id)
        if row.status not in RETRYABLE or not self.repository.retry(video_id):
            current = owned_video(self.repository, tenant_id, video_id)
            reason = (
                "its source was never uploaded"
                if current.status in RETRYABLE and current.uploaded_at is None
                else f"it is {current.status}, not FAILED or CANCELED"
            )
            raise InvalidVideoState(f"video {video_id} cannot be retried: {reason}")
        row = owned_video(self.repository, tenant_id, video_id)
        try:
            message_id = self.queue.send(
                video_id,
                tenant_id,
                request_id=str(uuid.uuid4()),
                trace_id=row.trace_id or trace_id or None,
            )
        except Exception as exc:  # noqa: BLE001 - the row is UPLOADED; reconcile re-sends it
            return Retried(row, False, enqueue_error=f"{type(exc).__name__}: {exc}")
        return Retried(row, True, message_id=message_id)

    def delete(self, tenant_id: int, video_id: int) -> bool:
        """Cancel if needed, delete the source and every output, then the row. Idempotent:
        False when there was nothing to delete (an unknown or another tenant's id included)."""
        try:
            row = owned_video(self.repository, tenant_id, video_id)
        except VideoNotFound:
            return False
        if row.status in CANCELABLE:
            self.repository.cancel(video_id)  # a running worker stops at its next renewal
        self._abort_multipart(row)
        # Storage first: a failure here leaves the row, so the delete can be asked again.
        # The source (and outputs of the legacy layout) under the ids, the outputs under the
        # video's opaque media folder.
        salt = self.repository.media_salt(video_id)
        if salt:
            self.storage.delete_prefix(media_video_prefix(salt) + "/")
        self.storage.delete_prefix(video_prefix(row.tenant_id, row.id) + "/")
        self.repository.delete(video_id)
        return True

    def _abort_multipart(self, row: VideoRecord) -> None:
        if row.upload_id and isinstance(self.storage, DirectUploads):
            self.storage.abort_multipart(row.source_key, row.upload_id)
