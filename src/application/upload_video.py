"""Upload one source video: check the file, store it and record the row in one unit of work,
then enqueue its job once the row is committed. Ports only: no Django, no boto3."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from src.application.domain import PlaybackPolicy
from src.application.domain.redaction import redact_url_credentials
from src.application.ports.queue import VideoQueue
from src.application.ports.storage import Storage
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.storage_keys import source_key, video_prefix


class UploadRejected(Exception):
    """The input is unusable (file, tenant, limits); nothing was created."""


class UploadFailed(Exception):
    """Storing the source or recording the row failed; what was written has been removed."""

    def __init__(self, message: str) -> None:
        super().__init__(redact_url_credentials(message))


@dataclass(frozen=True)
class StoredUpload:
    video_id: int
    tenant_id: int
    source_key: str
    size_bytes: int
    location: str
    request_id: str
    message_id: str = ""


class EnqueueFailed(Exception):
    """The row is committed (UPLOADED, source stored) but its job message was not sent."""

    def __init__(self, upload: StoredUpload, cause: BaseException) -> None:
        super().__init__(redact_url_credentials(f"{type(cause).__name__}: {cause}"))
        self.upload = upload
        self.cause = cause


def check_source_file(path: Path, max_bytes: int) -> int:
    """The size of a readable, non-empty regular file within `max_bytes`; UploadRejected if not.

    The path itself must be the file: a symbolic link is refused, never followed, so an
    upload cannot store what the link points at (another user's file, /etc/passwd).
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise UploadRejected(f"{path}: no such file") from None
    except OSError as exc:
        raise UploadRejected(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISLNK(info.st_mode):
        raise UploadRejected(f"{path}: is a symbolic link; give the file itself")
    if stat.S_ISDIR(info.st_mode):
        raise UploadRejected(f"{path}: is a directory, not a video file")
    if not stat.S_ISREG(info.st_mode):
        raise UploadRejected(f"{path}: is not a regular file")
    if info.st_size == 0:
        raise UploadRejected(f"{path}: is empty")
    if info.st_size > max_bytes:
        raise UploadRejected(
            f"{path}: is {info.st_size} bytes, more than VIDEO_MAX_SOURCE_BYTES ({max_bytes})"
        )
    try:
        # O_NOFOLLOW: a link swapped in since the lstat is refused too.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise UploadRejected(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return info.st_size


def _remove_stored(storage: Storage, prefix: str) -> str:
    """Best-effort removal of what this upload stored; a note for the error message if it fails."""
    try:
        storage.delete_prefix(prefix)
    except Exception as exc:  # noqa: BLE001 - the original failure is the one to report
        return f"; the stored object below {prefix} could not be removed ({exc})"
    return ""


class UploadVideo:
    """Store a file as a new UPLOADED video of a tenant, then enqueue its job.

    The tenant, the row and the stored source are written in one unit of work; the job
    message is sent once it is committed, so it never names a row a worker cannot see yet.
    Raises UploadRejected or UploadFailed with nothing left behind, or EnqueueFailed with the
    row committed (reconcile re-enqueues it).
    """

    def __init__(
        self,
        uow: AbstractUnitOfWork,
        storage: Storage,
        queue: VideoQueue,
        *,
        max_source_bytes: int,
        playback_policy: PlaybackPolicy = PlaybackPolicy.SIGNED,
    ) -> None:
        self.uow = uow
        self.storage = storage
        self.queue = queue
        self.max_source_bytes = max_source_bytes
        self.playback_policy = playback_policy  # VIDEO_DEFAULT_PLAYBACK_POLICY

    def __call__(
        self,
        path: Path,
        *,
        tenant_slug: str,
        request_id: str,
        title: str = "",
        create_tenant: bool = False,
        tenant_name: str = "",
        trace_id: str | None = None,
    ) -> StoredUpload:
        path = Path(path)
        size = check_source_file(path, self.max_source_bytes)
        stored_below = ""  # set once the source is stored: what to remove if a later step fails
        try:
            with self.uow:
                tenant_id = self._tenant(tenant_slug, create_tenant, tenant_name)
                video_id = self.uow.videos.create_video(
                    tenant_id, title=title, playback_policy=self.playback_policy
                )
                key = source_key(tenant_id, video_id, path.name)
                self.storage.put_file(path, key)  # atomic in every adapter: all or nothing
                stored_below = video_prefix(tenant_id, video_id) + "/source/"
                stored = self.storage.size(key)
                if stored != size:
                    raise UploadFailed(
                        f"stored object is {stored} bytes but {path} was {size} "
                        "(changed meanwhile?)"
                    )
                if not self.uow.videos.set_source_key(video_id, key):
                    raise UploadFailed(
                        f"video {video_id} left UPLOADED before its source was recorded"
                    )
                location = self.storage.locate(key)
                self.uow.commit()
        except UploadRejected:
            raise
        except Exception as exc:
            note = _remove_stored(self.storage, stored_below) if stored_below else ""
            if isinstance(exc, UploadFailed):
                raise UploadFailed(f"{exc}{note}") from exc
            raise UploadFailed(f"{type(exc).__name__}: {exc}{note}") from exc

        upload = StoredUpload(video_id, tenant_id, key, size, location, request_id)
        try:
            message_id = self.queue.send(
                video_id, tenant_id, request_id=request_id, trace_id=trace_id
            )
        except Exception as exc:  # any send failure leaves a committed, unsent row
            raise EnqueueFailed(upload, exc) from exc
        return replace(upload, message_id=message_id)

    def _tenant(self, slug: str, create: bool, name: str) -> int:
        """Inside the unit of work: a tenant created here is rolled back with the row."""
        found = self.uow.tenants.id_for_slug(slug)
        if found is not None:
            return found
        if not create:
            raise UploadRejected(
                f"unknown tenant {slug!r} (no tenant has this slug; --create-tenant creates it)"
            )
        return self.uow.tenants.ensure(slug, name or slug)
