"""The caption job: transcribe a READY video's audio into its automatic caption track.

It runs under the handle-job use case exactly as an encode does (claim with a fenced lease,
ticker, retries, cancel), from its own queue. One job: fetch the upload, decode its audio to
16 kHz mono (the input guard applies), transcribe, write the WebVTT file and its segmented HLS
rendition under the video's output prefix, complete the track (fenced), and rewrite the
master playlist so players find the track.
"""

from __future__ import annotations

import dataclasses
import posixpath
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from src.application.domain import (
    CaptionStatus,
    ErrorCode,
    JobStopped,
    Lease,
    StopReason,
    VideoProcessingError,
    VideoStatus,
)
from src.application.job_control import JobControl
from src.application.job_folders import JobFolder, create_job_folder
from src.application.ports.captions import (
    AudioExtractor,
    CaptionRepository,
    CaptionResult,
    SubtitleFiles,
    Transcriber,
)
from src.application.ports.queue import VideoQueue
from src.application.ports.storage import Storage, StorageError
from src.application.ports.transcoder import ProgressCallback
from src.application.ports.video_repository import VideoRepository
from src.application.process_video import (
    download_source,
    storage_failure,
    work_dir_error,
)
from src.application.subtitle_master import SubtitleMaster, read_text


@dataclass
class CaptionJobOutcome:
    hls_key: str  # the master playlist that now lists the track
    stage_timings_ms: dict[str, int] = field(default_factory=dict)


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def _check(control: JobControl) -> None:
    reason = control.stop_reason()
    if reason is not None:
        raise JobStopped(reason)


class CaptionVideo:
    def __init__(
        self,
        captions: CaptionRepository,
        videos: VideoRepository,
        storage: Storage,
        audio: AudioExtractor,
        transcriber: Transcriber,
        files: SubtitleFiles,
        master: SubtitleMaster,
        work_root: str | Path | None = None,
    ) -> None:
        self.captions = captions
        self.videos = videos
        self.storage = storage
        self.audio = audio
        self.transcriber = transcriber
        self.files = files
        self.master = master
        self.work_root = Path(work_root or Path(tempfile.gettempdir()) / "academy-video-jobs")

    def remove_orphan_folders(self) -> list[str]:
        from src.application.job_folders import remove_orphan_job_folders

        return remove_orphan_job_folders(self.work_root)

    def _folder(self, lease: Lease) -> JobFolder:
        try:
            return create_job_folder(self.work_root, f"captions-{lease.video_id}-{lease.token}-")
        except OSError as exc:
            raise work_dir_error(exc, self.work_root) from exc

    def __call__(
        self, lease: Lease, on_progress: ProgressCallback, control: JobControl
    ) -> CaptionJobOutcome:
        started = time.monotonic()
        timings: dict[str, int] = {}
        video = self.videos.get(lease.video_id)
        if video is None or video.status != VideoStatus.READY or not video.hls_key:
            raise VideoProcessingError(
                ErrorCode.SOURCE_MISSING, "the video is no longer READY: nothing to caption"
            )
        track = self.captions.get(lease.video_id)
        folder = self._folder(lease)
        work = folder.path
        log = structlog.get_logger().bind(video_id=lease.video_id, tenant_id=lease.tenant_id)
        try:
            on_progress(0.0, "audio")
            source = download_source(self.storage, lease, work, timings)
            t = time.monotonic()
            audio = self.audio.extract(source, work, control.stop_reason)
            timings["audio"] = _ms(t)
            if audio is None:
                return self._skip(lease, ErrorCode.NO_AUDIO, "the video has no audio stream")
            source.unlink(missing_ok=True)  # the audio is all the job needs now
            _check(control)
            t = time.monotonic()
            language = track.language if track and track.language else None
            transcript = self.transcriber.transcribe(
                audio, language, on_progress, control.stop_reason
            )
            # The first job of a process loads the model: its own line, not the speed's.
            load_ms = int(transcript.load_seconds * 1000)
            timings["transcribe"] = max(_ms(t) - load_ms, 1)
            if load_ms:
                timings["model_load"] = load_ms
            log.info(
                "CAPTIONS_TRANSCRIBED",
                job="captions",
                language=transcript.language,
                cues=len(transcript.cues),
                audio_seconds=round(transcript.audio_seconds, 1),
                transcribe_ms=timings["transcribe"],
                realtime_factor=round(
                    transcript.audio_seconds / max(timings["transcribe"] / 1000.0, 0.001), 1
                ),
                model=transcript.model,
                model_load_ms=load_ms,
            )
            if not transcript.cues:
                return self._skip(lease, ErrorCode.NO_SPEECH, "no speech was heard in the audio")
            _check(control)
            on_progress(99.0, "upload")
            return self._publish(
                lease, video.hls_key, video, transcript, work, control, timings, started
            )
        finally:
            folder.remove()

    def _publish(self, lease, hls_key, video, transcript, work, control, timings, started):
        output = work / "captions"
        start = segment_start(video) if segment_start(video) is not None else None
        if start is None:  # a video encoded before the start was recorded: measure it
            start = self._video_start(hls_key, work, control)
        self.files.write_rendition(
            transcript.cues,
            output,
            duration=video.duration_seconds or transcript.audio_seconds,
            start_seconds=start,
        )
        prefix = caption_prefix(hls_key, f"auto-{lease.token}")
        t = time.monotonic()
        keep = False
        try:
            try:
                self.storage.put_directory(output, prefix)
            except StorageError as exc:
                raise storage_failure(exc) from exc
            timings["upload"] = _ms(t)
            timings["total"] = _ms(started)
            result = CaptionResult(
                language=transcript.language,
                label="",
                vtt_key=f"{prefix}/{self.files.whole_file}",
                playlist_key=f"{prefix}/{self.files.playlist}",
                cues=transcript.cues,
                stage_timings_ms=dict(timings),
            )
            track = self.captions.get(lease.video_id)
            if track is None:  # deleted meanwhile: nothing to publish
                control.stop(StopReason.LEASE_LOST)
                raise JobStopped(StopReason.LEASE_LOST)
            # The master lists the track before the row says READY (its files are stored):
            # a player that reads the master after READY always finds it.
            coming = dataclasses.replace(
                track,
                status=CaptionStatus.READY,
                language=result.language,
                playlist_key=result.playlist_key,
            )
            self.master.refresh(lease.video_id, coming=coming)
            keep = True  # from here until `complete` answers, the row may name the prefix
            keep = self.captions.complete(lease, result)
            if not keep:
                control.stop(StopReason.LEASE_LOST)
                raise JobStopped(StopReason.LEASE_LOST)
        finally:
            if not keep:
                self.master.refresh(lease.video_id)  # the master names only READY tracks
                self.master.discard(prefix)
        return CaptionJobOutcome(hls_key=hls_key, stage_timings_ms=timings)

    def _skip(self, lease: Lease, code: ErrorCode, message: str) -> CaptionJobOutcome:
        """Nothing to transcribe: the track says why, the job has not failed."""
        if not self.captions.skip(lease, code, message):
            raise JobStopped(StopReason.LEASE_LOST)
        structlog.get_logger().info(
            "CAPTIONS_SKIPPED", job="captions", video_id=lease.video_id, error_code=code
        )
        return CaptionJobOutcome(hls_key="", stage_timings_ms={})

    def _video_start(self, hls_key: str, work: Path, control: JobControl) -> float:
        """When the video's first segment starts (subtitle times are mapped onto it): read
        the master, its first variant's playlist, and probe that playlist's first segment."""
        try:
            variant = _first_uri(read_text(self.storage, hls_key))
            playlist_key = posixpath.normpath(posixpath.join(posixpath.dirname(hls_key), variant))
            segment = _first_uri(read_text(self.storage, playlist_key))
            segment_key = posixpath.normpath(
                posixpath.join(posixpath.dirname(playlist_key), segment)
            )
            local = work / "first-segment.ts"
            self.storage.get_file(segment_key, local)
        except (StorageError, FileNotFoundError, ValueError):
            return 0.0
        return self.audio.start_seconds(local, work, control.stop_reason)


def segment_start(video) -> float | None:
    """When the video's segments start, as the encode recorded it (None: not recorded)."""
    for rendition in video.renditions or []:
        value = rendition.get("start_seconds")
        if isinstance(value, int | float):
            return float(value)
    return None


def _first_uri(playlist: str) -> str:
    for line in playlist.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    raise ValueError("the playlist lists nothing")


def caption_prefix(hls_key: str, name: str) -> str:
    """Where a track's files go: below the video's published output, so whatever serves the
    video's playlists and segments serves its captions too."""
    return f"{posixpath.dirname(hls_key)}/captions/{name}"


def upload_name(language: str) -> str:
    """A fresh folder name for an uploaded track (a replaced one keeps its own until removed)."""
    return f"upload-{language}-{uuid.uuid4().hex[:12]}"


# Reconcile asks for the captions of videos READY within this long (a day) and never asked.
UNREQUESTED_WINDOW_SECONDS = 24 * 3600


class CaptionRequests:
    """Asks for a video's automatic captions once it is READY: the QUEUED track row first (the
    truth: reconcile re-sends a lost message from it), then the job message."""

    def __init__(
        self,
        captions: CaptionRepository,
        queue: VideoQueue,
        *,
        language: str = "",
        enabled: bool = True,
        language_of: Callable[[int], str] | None = None,
    ) -> None:
        self.captions = captions
        self.queue = queue
        self.language = language
        self.enabled = enabled
        self.language_of = language_of

    def after_ready(self, lease: Lease) -> None:
        """ProcessVideo's hook: never raises (the video is READY whatever happens here)."""
        self.request(lease.video_id, lease.tenant_id)

    def request(self, video_id: int, tenant_id: int) -> bool:
        """The QUEUED track and its message; False when nothing was asked. Never raises."""
        if not self.enabled:
            return False
        log = structlog.get_logger().bind(video_id=video_id, tenant_id=tenant_id)
        try:
            own = self.language_of(video_id) if self.language_of else ""
            track = self.captions.request_auto(video_id, own or self.language)
            if track is None:
                return False
            self.queue.send(video_id, tenant_id, str(uuid.uuid4()))
            log.info("CAPTIONS_REQUESTED", track_id=track.id, language=track.language or "detect")
            return True
        except Exception as exc:  # noqa: BLE001 - reconcile re-sends from the QUEUED row
            log.warning("CAPTIONS_REQUEST_FAILED", error=f"{type(exc).__name__}: {exc}"[:300])
            return False

    def request_unrequested(
        self, older_than_seconds: int, within_seconds: int = UNREQUESTED_WINDOW_SECONDS
    ) -> list[int]:
        """Reconcile's mend for a worker that died between READY and `after_ready`: READY
        videos whose track was never requested get one (those READY longer than
        `within_seconds` ago are left alone: captioning a back catalogue is an operator's
        choice). The videos asked for; never raises."""
        if not self.enabled:
            return []
        try:
            missing = self.captions.list_unrequested(older_than_seconds, within_seconds)
        except Exception as exc:  # noqa: BLE001 - the database is down: the next pass
            structlog.get_logger().warning(
                "CAPTIONS_MEND_FAILED", error=f"{type(exc).__name__}: {exc}"[:300]
            )
            return []
        asked = [job.id for job in missing if self.request(job.id, job.tenant_id)]
        for video_id in asked:
            structlog.get_logger().info("CAPTIONS_REQUEST_MENDED", video_id=video_id)
        return asked
