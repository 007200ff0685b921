"""Caption tracks: the repository port (the caption job's lease and the tracks' rows), the
transcriber port, and the subtitle-file port (parse an upload, write WebVTT)."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from src.application.domain import (
    CaptionKind,
    CaptionStatus,
    Cue,
    ErrorCode,
    Lease,
    StopReason,
)
from src.application.ports.video_repository import Claim, ProcessingRow

# The longest language tag we store ("en", "pt-BR", "zh-Hant-TW"): BCP 47's common forms.
MAX_LANGUAGE_LENGTH = 16
MAX_LABEL_LENGTH = 100


@dataclass(frozen=True)
class CaptionTrackRecord:
    """A read-only snapshot of a caption track row."""

    id: int
    video_id: int
    tenant_id: int
    kind: CaptionKind
    status: CaptionStatus
    language: str = ""  # "" while an automatic track waits for detection
    label: str = ""
    error_code: str = ""
    error_message: str = ""
    vtt_key: str = ""  # the whole track as one WebVTT file
    playlist_key: str = ""  # its HLS subtitle rendition (media playlist)
    cue_count: int = 0
    leased_by: str = ""
    leased_until: datetime | None = None
    lease_token: int = 0
    attempts: int = 0
    stage_timings_ms: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ready_at: datetime | None = None

    @property
    def id_for_job(self) -> int:
        """The caption job is named by its video (one automatic track per video)."""
        return self.video_id


@dataclass(frozen=True)
class StaleCaptionJob:
    """A QUEUED automatic track unchanged for a while (its message may be lost)."""

    id: int  # the video's id: the job message names the video
    tenant_id: int


@dataclass(frozen=True)
class CaptionResult:
    """What a finished caption job writes on its track."""

    language: str
    label: str
    vtt_key: str
    playlist_key: str
    cues: list[Cue]
    stage_timings_ms: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NewUploadedTrack:
    video_id: int
    tenant_id: int
    language: str
    label: str
    vtt_key: str
    playlist_key: str
    cues: list[Cue]


class CaptionRepository(abc.ABC):
    """Conditional writes only, like the video repository.

    The caption job's side is named by the video id (a video has at most one automatic
    track), so the handle-job use case, the job ticker and the reconciler drive it exactly as
    they drive videos: `get`, `claim_video`, `renew_lease`, `fail`, `release`,
    `try_reclaim_video`, `list_processing`, `list_stale_uploaded`, `mark_enqueued`.
    """

    queued_status = CaptionStatus.QUEUED
    canceled_status = CaptionStatus.CANCELED

    def __init__(self, max_attempts: int = 3, default_lease_seconds: int = 300) -> None:
        self.max_attempts = max_attempts
        self.default_lease_seconds = default_lease_seconds

    def ping(self) -> None:  # noqa: B027 - stores that cannot be down need nothing here
        """Raise if the store cannot be reached now."""

    def recover_from(self, exc: BaseException) -> bool:
        return False

    def master_lock(self, video_id: int) -> AbstractContextManager[Any]:
        """Held while a video's master playlist is rewritten: one writer at a time."""
        return contextlib.nullcontext()

    # -- the job: the video's automatic track ----------------------------------------------
    @abc.abstractmethod
    def request_auto(self, video_id: int, language: str) -> CaptionTrackRecord | None:
        """Create the video's automatic track QUEUED (only when it has none and is READY);
        the new row, or None when there was one already."""

    @abc.abstractmethod
    def get(self, video_id: int) -> CaptionTrackRecord | None:
        """The video's automatic track, or None."""

    @abc.abstractmethod
    def claim_video(self, video_id: int, worker_id: str, lease_seconds: int | None = None) -> Claim:
        """QUEUED -> PROCESSING with a fenced lease (the lease's `source_key` is the video's);
        past `max_attempts` FAILED (MAX_ATTEMPTS_EXCEEDED) instead, as videos do."""

    @abc.abstractmethod
    def renew_lease(self, lease: Lease, seconds: int | None = None) -> Lease | None: ...

    @abc.abstractmethod
    def complete(self, lease: Lease, result: CaptionResult) -> bool:
        """PROCESSING -> READY with the cues and keys, fenced; records video.captions.ready."""

    @abc.abstractmethod
    def skip(self, lease: Lease, error_code: ErrorCode, message: str) -> bool:
        """PROCESSING -> SKIPPED (nothing to transcribe: NO_AUDIO, NO_SPEECH), fenced."""

    @abc.abstractmethod
    def fail(self, lease: Lease, error_code: ErrorCode, message: str, retryable: bool) -> bool:
        """As the video repository's: QUEUED again with attempts left, else FAILED (which
        records video.captions.failed)."""

    @abc.abstractmethod
    def release(self, lease: Lease, error_code: str = "", message: str = "") -> bool: ...

    @abc.abstractmethod
    def cancel(self, video_id: int) -> bool:
        """QUEUED or PROCESSING -> CANCELED; the worker notices at its next renewal."""

    @abc.abstractmethod
    def try_reclaim_video(
        self,
        video_id: int,
        force: bool = False,
        *,
        expected_token: int | None = None,
        expected_worker: str | None = None,
    ) -> bool: ...

    @abc.abstractmethod
    def list_processing(self, limit: int = 100) -> list[ProcessingRow]: ...

    @abc.abstractmethod
    def list_stale_uploaded(
        self, older_than_seconds: int, limit: int = 100
    ) -> list[StaleCaptionJob]:
        """QUEUED automatic tracks unchanged for that long (lost enqueues)."""

    def list_unrequested(
        self, older_than_seconds: int, within_seconds: int, limit: int = 100
    ) -> list[StaleCaptionJob]:
        """READY videos that became READY between `within_seconds` and `older_than_seconds`
        ago and whose automatic track was never requested (their worker died between READY
        and the request). A store without videos has none."""
        return []

    @abc.abstractmethod
    def mark_enqueued(self, video_id: int, older_than_seconds: int | None = None) -> bool: ...

    def expire_uploads(self, limit: int = 100) -> list[Any]:
        """Caption jobs have no uploads to expire (the reconciler asks every repository)."""
        return []

    # -- the tracks ------------------------------------------------------------------------
    @abc.abstractmethod
    def list_tracks(self, video_id: int) -> list[CaptionTrackRecord]:
        """The video's tracks, oldest first."""

    @abc.abstractmethod
    def get_track(self, track_id: int) -> CaptionTrackRecord | None: ...

    @abc.abstractmethod
    def cues(self, track_id: int) -> list[Cue]:
        """A READY track's cues in time order ([] for any other track): what search indexes."""

    @abc.abstractmethod
    def put_uploaded(self, new: NewUploadedTrack) -> tuple[CaptionTrackRecord, list[str]]:
        """Add the language's uploaded track READY, replacing the one it had; the new row
        and the keys the replaced track's files were stored under."""

    @abc.abstractmethod
    def delete_track(self, track_id: int) -> CaptionTrackRecord | None:
        """Remove the row (an automatic one PROCESSING is canceled by it); the row removed."""


# -- transcription -------------------------------------------------------------------------
ProgressCallback = Callable[[float, str], None]
StopCheck = Callable[[], StopReason | None]


@dataclass(frozen=True)
class Transcript:
    language: str
    cues: list[Cue]
    audio_seconds: float
    model: str = ""
    load_seconds: float = 0.0  # loading the model (the process's first job only)


class CaptionEngineUnavailable(Exception):
    """No model can be loaded: the worker refuses to start (the message names the setting)."""


class Transcriber(abc.ABC):
    """Speech to timed text. Loads its model on first use and keeps it for the process."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise CaptionEngineUnavailable when the model cannot be found (start-up check,
        without loading it)."""

    @abc.abstractmethod
    def transcribe(
        self,
        audio: Path,
        language: str | None,
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> Transcript:
        """Transcribe 16 kHz mono PCM; `language` None detects it. Raises JobStopped or
        VideoProcessingError (TRANSCRIBE_FAILED)."""


class AudioExtractor(abc.ABC):
    @abc.abstractmethod
    def extract(self, source: Path, work_dir: Path, stop_reason: StopCheck) -> Path | None:
        """Decode the upload's audio to 16 kHz mono under the input guard; None when it has
        no audio stream. Raises VideoProcessingError or JobStopped."""

    @abc.abstractmethod
    def start_seconds(self, segment: Path, work_dir: Path, stop_reason: StopCheck) -> float:
        """The presentation time a published media segment starts at (subtitle segments are
        mapped onto it); 0.0 when it cannot be read."""


# -- caption files ---------------------------------------------------------------------------
class CaptionFileInvalid(ValueError):
    """The upload is not usable captions; `line` is the 1-based line at fault (0: the file)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.detail = message


class SubtitleFiles(abc.ABC):
    @abc.abstractmethod
    def parse(self, data: bytes) -> list[Cue]:
        """The cues of an SRT or WebVTT file; CaptionFileInvalid naming the line at fault."""

    @abc.abstractmethod
    def write_rendition(
        self, cues: list[Cue], folder: Path, *, duration: float, start_seconds: float
    ) -> None:
        """The whole WebVTT file (`whole_file`) and the segmented HLS rendition (`playlist`,
        its segments mapped onto `start_seconds`) into `folder`."""

    whole_file = "captions.vtt"
    playlist = "index.m3u8"
