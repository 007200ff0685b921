"""The process-a-video use case: download, transcode, store under the job's prefix, complete."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from src.application import storage_keys
from src.application.domain import (
    ErrorCode,
    JobStopped,
    Lease,
    StopReason,
    VideoProcessingError,
)
from src.application.job_control import JobControl
from src.application.job_folders import JobFolder, create_job_folder, remove_orphan_job_folders
from src.application.ports.storage import NO_SPACE_ERRNOS, Storage, StorageError, StorageFull
from src.application.ports.transcoder import ProgressCallback, TranscodeOutput, Transcoder
from src.application.ports.video_repository import VideoRepository, VideoResult


@dataclass
class JobOutcome:
    hls_key: str
    stage_timings_ms: dict[str, int] = field(default_factory=dict)


def storage_failure(exc: StorageError) -> VideoProcessingError:
    """A storage error as a job failure: NO_SPACE_LEFT when a disk is full, else STORAGE_FAILED."""
    code = ErrorCode.NO_SPACE_LEFT if isinstance(exc, StorageFull) else ErrorCode.STORAGE_FAILED
    return VideoProcessingError(code, str(exc), retryable=True)


def work_dir_error(exc: OSError, where: Path) -> VideoProcessingError:
    """The job's own folder could not be made: a full disk, or a worker that cannot work."""
    code = ErrorCode.NO_SPACE_LEFT if exc.errno in NO_SPACE_ERRNOS else ErrorCode.INTERNAL_ERROR
    return VideoProcessingError(
        code, f"cannot create a job folder in {where}: {exc.strerror or exc}", retryable=True
    )


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class ProcessVideo:
    def __init__(
        self,
        repository: VideoRepository,
        storage: Storage,
        transcoder: Transcoder,
        work_root: str | Path | None = None,
        after_ready: Callable[[Lease], None] | None = None,
    ) -> None:
        """`after_ready` runs once the row is READY (it asks for the video's captions); it
        must not raise."""
        self.after_ready = after_ready
        self.repository = repository
        self.storage = storage
        self.transcoder = transcoder
        self.work_root = Path(work_root or Path(tempfile.gettempdir()) / "academy-video-jobs")

    def make_work_dir(self, lease: Lease) -> JobFolder:
        try:
            return create_job_folder(self.work_root, f"{lease.video_id}-{lease.token}-")
        except OSError as exc:
            raise work_dir_error(exc, self.work_root) from exc

    def remove_orphan_folders(self) -> list[str]:
        """Remove job folders that no live worker owns (theirs was killed); their names."""
        return remove_orphan_job_folders(self.work_root)

    def __call__(
        self, lease: Lease, on_progress: ProgressCallback, control: JobControl
    ) -> JobOutcome:
        """Run the job; raises VideoProcessingError or JobStopped. Always removes its folder."""
        started = time.monotonic()
        timings: dict[str, int] = {}
        folder = self.make_work_dir(lease)
        work_dir = folder.path
        try:
            source = self._download(lease, work_dir, timings)
            self._check(control)
            on_progress(0.0, "transcode")
            output = self.transcoder.transcode(source, work_dir, on_progress, control.stop_reason)
            timings.update(output.stage_timings_ms)
            self._check(control)
            on_progress(100.0, "upload")
            return self._publish(lease, output, control, timings, started)
        finally:
            folder.remove()

    def _publish(
        self,
        lease: Lease,
        output: TranscodeOutput,
        control: JobControl,
        timings: dict[str, int],
        started: float,
    ) -> JobOutcome:
        """Store the outputs under this claim's prefix and complete the row, fenced.

        On every failure the prefix is deleted again: no row names it, so whatever was stored
        there is only waste. The one exception is a `complete` whose answer never came (the
        database went away mid-call): the row may name the prefix now, so it stays.
        """
        prefix = storage_keys.job_output_prefix(lease.media_salt, lease.token)
        keep = False
        try:
            t = time.monotonic()
            try:
                self.storage.put_directory(output.output_dir, prefix)
            except StorageError as exc:
                raise storage_failure(exc) from exc
            timings["upload"] = _ms(t)
            hls_key = f"{prefix}/{output.master_playlist}"
            width, height = output.probe.display_size()  # as viewers see it
            result = VideoResult(
                hls_key=hls_key,
                thumbnail_key=f"{prefix}/{output.thumbnail}" if output.thumbnail else "",
                duration_seconds=output.probe.duration_seconds,
                width=width,
                height=height,
                size_bytes=output.probe.size_bytes,
                renditions=output.renditions,
                stage_timings_ms={**timings, "total": _ms(started)},
            )
            t = time.monotonic()
            keep = True  # from here until `complete` answers, the row may name the prefix
            completed = self.repository.complete(lease, result)
            keep = completed
            if not completed:  # fenced out: another claim owns the video now
                control.stop(StopReason.LEASE_LOST)
                raise JobStopped(StopReason.LEASE_LOST)
            timings["complete"] = _ms(t)
            timings["total"] = _ms(started)
            if self.after_ready is not None:
                self.after_ready(lease)
            return JobOutcome(hls_key=hls_key, stage_timings_ms=timings)
        finally:
            if not keep:
                self._discard(prefix + "/")

    def _discard(self, prefix: str) -> None:
        """Best effort: a storage that fails now too leaves the prefix to a later sweep."""
        try:
            removed = self.storage.delete_prefix(prefix)
        except Exception as exc:  # noqa: BLE001 - the job's own failure is the one to report
            structlog.get_logger().warning(
                "VIDEO_OUTPUT_CLEANUP_FAILED", prefix=prefix, error=f"{type(exc).__name__}: {exc}"
            )
            return
        if removed:
            structlog.get_logger().info("VIDEO_OUTPUT_DISCARDED", prefix=prefix, objects=removed)

    @staticmethod
    def _check(control: JobControl) -> None:
        reason = control.stop_reason()
        if reason is not None:
            raise JobStopped(reason)

    def _download(self, lease: Lease, work_dir: Path, timings: dict[str, int]) -> Path:
        return download_source(self.storage, lease, work_dir, timings)


def download_source(
    storage: Storage, lease: Lease, work_dir: Path, timings: dict[str, int]
) -> Path:
    """The claimed video's upload, fetched into `work_dir/source/` (the encode's and the
    caption job's first step)."""
    t = time.monotonic()
    if not lease.source_key:
        raise VideoProcessingError(ErrorCode.SOURCE_MISSING, "video has no source_key")
    source_dir = work_dir / "source"
    try:
        source_dir.mkdir()
    except OSError as exc:
        raise work_dir_error(exc, work_dir) from exc
    name = storage_keys.safe_filename(lease.source_key.rsplit("/", 1)[-1])
    target = source_dir / name
    try:
        storage.get_file(lease.source_key, target)
    except FileNotFoundError:
        raise VideoProcessingError(
            ErrorCode.SOURCE_MISSING, f"source object {lease.source_key} does not exist"
        ) from None
    except StorageError as exc:
        raise storage_failure(exc) from exc
    timings["download"] = _ms(t)
    return target
