"""Read ffprobe's JSON for an upload into what the encode needs, refusing what is not video."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from src.application.domain import ErrorCode, VideoProcessingError
from src.application.ports.transcoder import ProbeResult
from src.infrastructure.media.input_guard import demuxer_for, file_url, guarded_input_args

# Frame rate used when a container states none (or nonsense, as some VFR files do).
FALLBACK_FPS = 25.0
_REFUSED_FORMAT = re.compile(r"\[([\w,]+) @ [^]]*\] Format not on whitelist")


@dataclass(frozen=True)
class SourceInfo:
    """The port's ProbeResult plus the stream facts the encode command needs."""

    probe: ProbeResult
    demuxer: str
    video_index: int
    audio_index: int | None
    fps: float
    display_width: int
    display_height: int
    # What the passthrough decision needs to know about the video stream.
    video_profile: str = ""
    video_level: int = 0
    pix_fmt: str = ""
    progressive: bool = False
    square_pixels: bool = True
    rotated: bool = False
    start_seconds: float = 0.0
    # The video stream's own rate, else the container's minus the audio's; None if unknown.
    video_kbps: int | None = None


def probe_command(ffprobe_bin: str, source: str, *entries: str) -> list[str]:
    """ffprobe's JSON for `source` (relative to the cwd); `entries` default to format + streams."""
    return [
        ffprobe_bin,
        "-hide_banner",
        "-v",
        "error",
        *guarded_input_args(),
        "-of",
        "json",
        *(entries or ("-show_format", "-show_streams")),
        file_url(source),
    ]


def probe_failure(returncode: int, stderr: str) -> VideoProcessingError:
    """The error for an ffprobe that exited non-zero on an upload."""
    refused = _REFUSED_FORMAT.search(stderr)
    if refused:
        return VideoProcessingError(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"the upload is a {refused.group(1)!r} file, not an accepted video container",
        )
    # Killed by a signal (the OOM killer, say): the file may be fine, another try can help.
    return VideoProcessingError(
        ErrorCode.PROBE_FAILED,
        f"ffprobe could not read the upload: {stderr.strip()[-500:] or f'exit {returncode}'}",
        retryable=returncode < 0,
    )


def parse_probe(stdout: str, size_bytes: int) -> SourceInfo:
    """Turn ffprobe's JSON into a SourceInfo, or raise UNSUPPORTED_MEDIA / PROBE_FAILED."""
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise VideoProcessingError(ErrorCode.PROBE_FAILED, "ffprobe gave no readable JSON") from exc
    fmt = data.get("format") or {}
    format_name = str(fmt.get("format_name", ""))
    demuxer = demuxer_for(format_name)
    if demuxer is None:
        raise VideoProcessingError(
            ErrorCode.UNSUPPORTED_MEDIA, f"container {format_name or 'unknown'!r} is not accepted"
        )
    streams = data.get("streams") or []
    video = next((s for s in streams if _is_moving_picture(s)), None)
    if video is None:
        raise VideoProcessingError(ErrorCode.UNSUPPORTED_MEDIA, "the upload has no video stream")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width < 2 or height < 2:
        raise VideoProcessingError(ErrorCode.PROBE_FAILED, "the video stream has no usable size")
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    if not duration or duration <= 0:
        raise VideoProcessingError(ErrorCode.PROBE_FAILED, "the upload's duration is unknown")
    display_width, display_height = _display_size(video, width, height)
    sar = _ratio(video.get("sample_aspect_ratio"))
    probe = ProbeResult(
        format_name=format_name,
        duration_seconds=duration,
        width=width,
        height=height,
        size_bytes=size_bytes,
        video_codec=str(video.get("codec_name", "")),
        has_audio=audio is not None,
        display_width=display_width,
        display_height=display_height,
    )
    return SourceInfo(
        probe=probe,
        demuxer=demuxer,
        video_index=int(video["index"]),
        audio_index=int(audio["index"]) if audio is not None else None,
        fps=_fps(video),
        display_width=display_width,
        display_height=display_height,
        video_profile=str(video.get("profile", "")),
        video_level=int(_float(video.get("level")) or 0),
        pix_fmt=str(video.get("pix_fmt", "")),
        progressive=video.get("field_order") == "progressive",
        square_pixels=sar is None or abs(sar - 1.0) < 1e-6,
        rotated=_rotation(video) % 360 != 0,
        start_seconds=_float(video.get("start_time")) or 0.0,
        video_kbps=_video_kbps(fmt, video, audio, duration, size_bytes),
    )


def keyframes_command(ffprobe_bin: str, source: str, video_index: int) -> list[str]:
    """The presentation time, size and flags of every video packet (no decoding), as CSV
    lines (ffprobe's own field order: `pts_time,size,flags`)."""
    return [
        ffprobe_bin,
        "-hide_banner",
        "-v",
        "error",
        *guarded_input_args(),
        "-select_streams",
        str(video_index),
        "-show_entries",
        "packet=pts_time,size,flags",
        "-of",
        "csv=p=0",
        file_url(source),
    ]


class KeyframeTimes:
    """Collects keyframe times from keyframes_command's CSV lines, fed line by line from a
    reader thread (so a long upload's million packets are never held as one string), and
    the bytes of the packets that start inside each of `windows` ([start, end) seconds from
    the stream's start; the rate trial's stretches)."""

    def __init__(
        self, start_seconds: float = 0.0, windows: Sequence[tuple[float, float]] = ()
    ) -> None:
        self.start_seconds = start_seconds
        self.windows = tuple(windows)
        self.window_bytes = 0
        self._times: set[float] = set()
        self.last_activity = time.monotonic()

    def feed(self, line: str) -> None:
        self.last_activity = time.monotonic()
        pts, _, rest = line.strip().partition(",")
        size, _, flags = rest.partition(",")
        value = _float(pts)
        if value is None:
            return
        at = value - self.start_seconds
        if flags.startswith("K"):
            self._times.add(round(at, 6))
        if size.isdigit() and any(start <= at < end for start, end in self.windows):
            self.window_bytes += int(size)

    @property
    def times(self) -> list[float]:
        """Sorted keyframe times relative to the stream's start."""
        return sorted(self._times)


def _video_kbps(
    fmt: dict[str, Any],
    video: dict[str, Any],
    audio: dict[str, Any] | None,
    duration: float,
    size_bytes: int,
) -> int | None:
    own = _float(video.get("bit_rate"))
    if own and own > 0:
        return round(own / 1000)
    total = _float(fmt.get("bit_rate")) or (size_bytes * 8 / duration if duration > 0 else None)
    if not total:
        return None
    audio_rate = _float((audio or {}).get("bit_rate")) or 0.0
    # Unknown audio rate: the whole container's rate, an upper bound (caps stay generous).
    return max(1, round((total - audio_rate) / 1000))


def _is_moving_picture(stream: dict[str, Any]) -> bool:
    # Cover art in an audio file is a video stream with the attached_pic disposition.
    attached = (stream.get("disposition") or {}).get("attached_pic")
    return stream.get("codec_type") == "video" and not attached


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _ratio(value: Any) -> float | None:
    num, _, den = str(value or "").partition(":" if ":" in str(value) else "/")
    n, d = _float(num), _float(den)
    if not n or not d or n <= 0 or d <= 0:
        return None
    return n / d


def _fps(video: dict[str, Any]) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        fps = _ratio(video.get(key))
        if fps and 1 <= fps <= 240:
            return fps
    return FALLBACK_FPS


def _display_size(video: dict[str, Any], width: int, height: int) -> tuple[int, int]:
    """What a player shows: non-square pixels stretched, 90/270 degree rotation applied.

    ffmpeg's decoder applies both (autorotate), so the ladder is planned on this size.
    """
    sar = _ratio(video.get("sample_aspect_ratio")) or 1.0
    display_width = max(2, round(width * sar))
    if _rotation(video) % 180 == 90:
        return height, display_width
    return display_width, height


def _rotation(video: dict[str, Any]) -> int:
    """Degrees the player turns the picture (container tag or display matrix), 0..359."""
    rotation = _float((video.get("tags") or {}).get("rotate")) or 0.0
    for side_data in video.get("side_data_list") or []:
        if "rotation" in side_data:
            rotation = _float(side_data["rotation"]) or 0.0
    return round(rotation) % 360
