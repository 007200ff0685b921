"""Transcoder port: probe an upload and turn it into an HLS ladder in a work folder."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.application.domain import StopReason

# Called with (percent 0..100, step name); must be cheap and must not raise.
ProgressCallback = Callable[[float, str], None]
# Returns why the job must stop (shutdown, canceled, lease lost, visibility cap), else None.
# A stall is the transcoder's own finding: it kills ffmpeg and raises TRANSCODE_STALLED.
StopCheck = Callable[[], StopReason | None]


@dataclass(frozen=True)
class ProbeResult:
    """What the probe read off the upload. `width`/`height` are the coded size (what the
    limits and the passthrough compare); `display_width`/`display_height` what a player shows
    (rotation and non-square pixels applied: a phone's portrait video is coded 1920x1080 with
    a 90-degree rotation), 0 when the same."""

    format_name: str
    duration_seconds: float
    width: int
    height: int
    size_bytes: int
    video_codec: str = ""
    has_audio: bool = False
    display_width: int = 0
    display_height: int = 0

    def display_size(self) -> tuple[int, int]:
        return (self.display_width or self.width, self.display_height or self.height)


@dataclass(frozen=True)
class TranscodeOutput:
    """Files a job produced, relative to its output folder."""

    output_dir: Path
    master_playlist: str
    thumbnail: str
    probe: ProbeResult
    renditions: list[dict[str, Any]] = field(default_factory=list)
    stage_timings_ms: dict[str, int] = field(default_factory=dict)


class Transcoder(abc.ABC):
    @abc.abstractmethod
    def transcode(
        self,
        source: Path,
        work_dir: Path,
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> TranscodeOutput:
        """Probe and encode `source` (already inside `work_dir`) into `work_dir`/out.

        Raises VideoProcessingError for bad input or failed encodes and
        JobStopped when `stop_reason` returns a reason.
        """
