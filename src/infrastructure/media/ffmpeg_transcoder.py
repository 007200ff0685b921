"""FfmpegTranscoder: probe an upload, encode the whole HLS ladder in one ffmpeg pass, thumbnail.

Exit codes and retries: a non-zero ffmpeg exit is TRANSCODE_FAILED and, by default, not
retryable: the same bytes through the same ffmpeg fail the same way, and almost every such
failure is the input. Only failures that say nothing about the input are retryable: killed
by a signal (the OOM killer's SIGKILL, a shutdown's SIGTERM), out of memory or disk.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from src.application.domain import ErrorCode, VideoProcessingError
from src.application.ports.storage import NO_SPACE_ERRNOS
from src.application.ports.transcoder import (
    ProgressCallback,
    StopCheck,
    TranscodeOutput,
    Transcoder,
)
from src.infrastructure import disk_space
from src.infrastructure.media import ffmpeg_command
from src.infrastructure.media.ffmpeg_progress import FfmpegProgress
from src.infrastructure.media.ladder import DEFAULT_LADDER, Rendition, Rung, plan_ladder
from src.infrastructure.media.master_playlist import (
    aac_codec,
    avc_codec,
    complete_master,
    read_variants,
)
from src.infrastructure.media.probe import SourceInfo, parse_probe, probe_command, probe_failure
from src.infrastructure.media.process_runner import ProcessResult, ProcessStalled, run_process

# ffprobe reads headers only; a real upload answers in well under a second.
PROBE_TIMEOUT_SECONDS = 30.0
# One seek and one frame; longer means something is wrong with the file.
THUMBNAIL_TIMEOUT_SECONDS = 60.0
# Progress callbacks at most this often (they go to Redis).
PROGRESS_MIN_INTERVAL = 0.25
# A file's timestamps can declare hours its bytes cannot hold (a few frames, a three-hour
# gap). The encode never invents frames to fill such a gap (fps_mode vfr), so its work follows
# what the file carries; this refuses the absurd ones at once with a clear code. 64 bytes a
# second is half a kbit/s, a hundred times below any real lecture, audio alone included.
MIN_BYTES_PER_DECLARED_SECOND = 64
# The encode must reach the source's end minus this much, else the upload was cut short:
# ffmpeg exits 0 on a truncated mp4 whose index survived and encodes what is there.
END_TOLERANCE_SECONDS = 0.5
END_TOLERANCE_FRACTION = 0.02
# stderr phrases that blame the machine, not the input.
_NO_SPACE = "No space left on device"
_RESOURCE_ERRORS = (_NO_SPACE, "Cannot allocate memory", "received signal")


class FfmpegTranscoder(Transcoder):
    def __init__(
        self,
        *,
        max_duration_seconds: float = 4 * 3600,
        max_source_bytes: int = 10 * 1024**3,
        max_width: int = 7680,
        max_height: int = 4320,
        segment_seconds: int = 6,
        stall_seconds: float = 120.0,
        ladder: Sequence[Rung] = DEFAULT_LADDER,
        preset: str = "veryfast",
        ffmpeg_bin: str = "ffmpeg",
        ffprobe_bin: str = "ffprobe",
        thumbnail_at: float = 0.1,
        poll_interval: float = 0.5,
    ) -> None:
        if segment_seconds < 1 or stall_seconds <= 0 or poll_interval <= 0:
            raise ValueError("segment_seconds, stall_seconds and poll_interval must be positive")
        if not 0 <= thumbnail_at < 1:
            raise ValueError("thumbnail_at is a fraction of the duration, 0 <= x < 1")
        self.max_duration_seconds = max_duration_seconds
        self.max_source_bytes = max_source_bytes
        self.max_width = max_width
        self.max_height = max_height
        self.segment_seconds = segment_seconds
        self.stall_seconds = stall_seconds
        self.ladder = tuple(ladder)
        self.preset = preset
        self.ffmpeg_bin = ffmpeg_bin
        self.ffprobe_bin = ffprobe_bin
        self.thumbnail_at = thumbnail_at
        self.poll_interval = poll_interval
        plan_ladder(2, 2, self.ladder)  # validates the ladder now, not on the first job

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> FfmpegTranscoder:
        """Build from an object with the limits as attributes (academy.config.AppConfig)."""
        values: dict[str, Any] = {
            "max_duration_seconds": cfg.max_duration_seconds,
            "max_source_bytes": cfg.max_source_bytes,
            "max_width": cfg.max_width,
            "max_height": cfg.max_height,
            "segment_seconds": cfg.hls_segment_seconds,
            "stall_seconds": cfg.stall_seconds,
        }
        values.update(overrides)
        return cls(**values)

    def transcode(
        self,
        source: Path,
        work_dir: Path,
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> TranscodeOutput:
        work_dir = Path(work_dir).resolve()
        relative = _inside(Path(source).resolve(), work_dir)
        timings: dict[str, int] = {}

        started = time.monotonic()
        on_progress(0.0, "probe")
        info = self._probe(relative, work_dir, stop_reason)
        self._check_limits(info)
        renditions = plan_ladder(info.display_width, info.display_height, self.ladder)
        timings["probe"] = _ms_since(started)

        started = time.monotonic()
        out_dir = work_dir / ffmpeg_command.OUTPUT_DIR
        shutil.rmtree(out_dir, ignore_errors=True)  # a previous attempt's leftovers
        with _blaming_a_full_disk(work_dir):
            for rendition in renditions:
                (out_dir / rendition.name).mkdir(parents=True)
            self._encode(relative, work_dir, info, renditions, on_progress, stop_reason)
            variants = self._complete_master(out_dir, work_dir, renditions, info, stop_reason)
            timings["transcode"] = _ms_since(started)

            started = time.monotonic()
            thumbnail = out_dir / ffmpeg_command.THUMBNAIL
            if not (thumbnail.is_file() and thumbnail.stat().st_size > 0):
                # The encode's thumbnail branch found no frame (odd timestamps): seek for one.
                self._thumbnail(relative, work_dir, info, stop_reason)
            timings["thumbnail"] = _ms_since(started)
        on_progress(100.0, "thumbnail")

        return TranscodeOutput(
            output_dir=out_dir,
            master_playlist=ffmpeg_command.MASTER_PLAYLIST,
            thumbnail=ffmpeg_command.THUMBNAIL,
            probe=info.probe,
            renditions=[
                {
                    "name": r.name,
                    "width": r.width,
                    "height": r.height,
                    "video_bitrate_kbps": r.video_kbps,
                    "audio_bitrate_kbps": r.audio_kbps if info.audio_index is not None else 0,
                    "bandwidth": int(variants[r.playlist]["BANDWIDTH"]),
                    "playlist": r.playlist,
                }
                for r in renditions
            ],
            stage_timings_ms=timings,
        )

    def _run(
        self,
        cmd: list[str],
        work_dir: Path,
        stop_reason: StopCheck,
        stall_seconds: float,
        stalled: VideoProcessingError,
        **watch: Any,
    ) -> ProcessResult:
        """One subprocess in the work folder; `stalled` is raised if it goes quiet too long."""
        try:
            return run_process(
                cmd,
                cwd=work_dir,
                stop_reason=stop_reason,
                stall_seconds=stall_seconds,
                poll_interval=self.poll_interval,
                **watch,
            )
        except ProcessStalled as exc:
            raise stalled from exc
        except OSError as exc:  # the binary is missing or not executable: this machine's fault
            raise VideoProcessingError(
                ErrorCode.INTERNAL_ERROR, f"cannot run {cmd[0]}: {exc.strerror}"
            ) from exc

    # -- stages ---------------------------------------------------------------------------

    def _probe(self, relative: str, work_dir: Path, stop_reason: StopCheck) -> SourceInfo:
        path = work_dir / relative
        if not path.is_file():
            raise VideoProcessingError(
                ErrorCode.SOURCE_MISSING, "the upload is not in the work folder"
            )
        size = path.stat().st_size
        if size == 0:
            raise VideoProcessingError(ErrorCode.PROBE_FAILED, "the upload is empty (0 bytes)")
        if size > self.max_source_bytes:
            raise VideoProcessingError(
                ErrorCode.INPUT_TOO_LARGE,
                f"the upload is {size} bytes, the limit is {self.max_source_bytes}",
            )
        result = self._run(
            probe_command(self.ffprobe_bin, relative),
            work_dir,
            stop_reason,
            PROBE_TIMEOUT_SECONDS,
            VideoProcessingError(
                ErrorCode.PROBE_FAILED, f"ffprobe took longer than {PROBE_TIMEOUT_SECONDS:g} s"
            ),
        )
        if result.returncode != 0:
            raise probe_failure(result.returncode, result.stderr_tail)
        return parse_probe(result.stdout, size)

    def _check_limits(self, info: SourceInfo) -> None:
        probe = info.probe
        if probe.duration_seconds > self.max_duration_seconds:
            raise VideoProcessingError(
                ErrorCode.DURATION_TOO_LONG,
                f"the video lasts {probe.duration_seconds:.0f} s, "
                f"the limit is {self.max_duration_seconds:g} s",
            )
        carried = probe.size_bytes / probe.duration_seconds
        if carried < MIN_BYTES_PER_DECLARED_SECOND:
            raise VideoProcessingError(
                ErrorCode.IMPLAUSIBLE_DURATION,
                f"the upload declares {probe.duration_seconds:.0f} s but holds only "
                f"{probe.size_bytes} bytes ({carried:.1f} bytes a second, a real video has far "
                f"more than {MIN_BYTES_PER_DECLARED_SECOND})",
            )
        # Compared side by side whatever the orientation: a portrait 2160x3840 phone video
        # is as large as a landscape 3840x2160 one.
        long_side, short_side = max(probe.width, probe.height), min(probe.width, probe.height)
        if long_side > max(self.max_width, self.max_height) or short_side > min(
            self.max_width, self.max_height
        ):
            raise VideoProcessingError(
                ErrorCode.INPUT_TOO_LARGE,
                f"the video is {probe.width}x{probe.height}, "
                f"the limit is {self.max_width}x{self.max_height}",
            )

    def _encode(
        self,
        relative: str,
        work_dir: Path,
        info: SourceInfo,
        renditions: list[Rendition],
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> None:
        cmd = ffmpeg_command.ladder_command(
            ffmpeg_bin=self.ffmpeg_bin,
            source=relative,
            demuxer=info.demuxer,
            video_index=info.video_index,
            audio_index=info.audio_index,
            fps=info.fps,
            renditions=renditions,
            segment_seconds=self.segment_seconds,
            preset=self.preset,
            thumbnail=(
                info.probe.duration_seconds * self.thumbnail_at,
                *ffmpeg_command.thumbnail_size(info.display_width, info.display_height),
            ),
        )
        progress = FfmpegProgress()
        duration = info.probe.duration_seconds
        reported = {"percent": 0.0, "at": 0.0}

        def report() -> None:
            percent, now = progress.percent(duration), time.monotonic()
            if percent > reported["percent"] and now - reported["at"] >= PROGRESS_MIN_INTERVAL:
                reported.update(percent=percent, at=now)
                on_progress(percent, "transcode")

        on_progress(0.0, "transcode")
        result = self._run(
            cmd,
            work_dir,
            stop_reason,
            self.stall_seconds,
            VideoProcessingError(
                ErrorCode.TRANSCODE_STALLED,
                f"ffmpeg made no progress for {self.stall_seconds:g} s and was killed",
            ),
            watcher=progress,
            on_poll=report,
        )
        if result.returncode != 0:
            raise _encode_failure("ffmpeg", result.returncode, result.stderr_tail)
        needed = duration - max(END_TOLERANCE_SECONDS, END_TOLERANCE_FRACTION * duration)
        if progress.out_seconds < needed:
            raise VideoProcessingError(
                ErrorCode.TRANSCODE_FAILED,
                f"only {progress.out_seconds:.1f} s of {duration:.1f} s could be decoded; "
                f"the upload looks truncated or damaged: {result.stderr_tail[-500:]}",
            )
        on_progress(100.0, "transcode")

    def _complete_master(
        self,
        out_dir: Path,
        work_dir: Path,
        renditions: list[Rendition],
        info: SourceInfo,
        stop_reason: StopCheck,
    ) -> dict[str, dict[str, str]]:
        """Check each rendition's first segment and make the master say what it holds."""
        master = out_dir / ffmpeg_command.MASTER_PLAYLIST
        if not master.is_file():
            raise VideoProcessingError(
                ErrorCode.TRANSCODE_FAILED, "ffmpeg wrote no master playlist"
            )
        trusted = _variants_as_planned(master, renditions, info.audio_index is not None)
        if trusted is not None:
            return trusted
        expected = {}
        for rendition in renditions:
            video, audio = self._segment_streams(out_dir, work_dir, rendition, stop_reason)
            if (video.get("width"), video.get("height")) != (rendition.width, rendition.height):
                raise VideoProcessingError(
                    ErrorCode.TRANSCODE_FAILED,
                    f"{rendition.name} came out {video.get('width')}x{video.get('height')}",
                )
            try:
                codecs = avc_codec(str(video.get("profile")), int(video.get("level", 0)))
            except ValueError as exc:
                raise VideoProcessingError(ErrorCode.TRANSCODE_FAILED, str(exc)) from exc
            if info.audio_index is not None:
                codecs += "," + aac_codec(str((audio or {}).get("profile", "LC")))
            expected[rendition.playlist] = (f"{rendition.width}x{rendition.height}", codecs)
        try:
            variants = complete_master(master, expected)
        except ValueError as exc:
            raise VideoProcessingError(ErrorCode.TRANSCODE_FAILED, str(exc)) from exc
        return {variant.uri: variant.attributes for variant in variants}

    def _segment_streams(
        self, out_dir: Path, work_dir: Path, rendition: Rendition, stop_reason: StopCheck
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        first = sorted((out_dir / rendition.name).glob("seg_*.ts"))[:1]
        if not first:
            raise VideoProcessingError(
                ErrorCode.TRANSCODE_FAILED, f"{rendition.name} has no segments"
            )
        segment = str(first[0].relative_to(work_dir))
        cmd = probe_command(self.ffprobe_bin, segment, "-show_streams")
        unreadable = VideoProcessingError(
            ErrorCode.TRANSCODE_FAILED, f"{rendition.name}'s first segment holds no H.264 video"
        )
        result = self._run(cmd, work_dir, stop_reason, PROBE_TIMEOUT_SECONDS, unreadable)
        try:
            streams = json.loads(result.stdout).get("streams", []) if result.returncode == 0 else []
        except ValueError:
            streams = []
        video = next((s for s in streams if s.get("codec_type") == "video"), None)
        audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
        if video is None or video.get("codec_name") != "h264":
            raise unreadable
        return video, audio

    def _thumbnail(
        self, relative: str, work_dir: Path, info: SourceInfo, stop_reason: StopCheck
    ) -> None:
        width, height = ffmpeg_command.thumbnail_size(info.display_width, info.display_height)
        target = work_dir / ffmpeg_command.OUTPUT_DIR / ffmpeg_command.THUMBNAIL
        # At the chosen instant, and from the start if the seek found no frame (a keyframe-poor
        # or oddly indexed file).
        for at_seconds in (info.probe.duration_seconds * self.thumbnail_at, 0.0):
            cmd = ffmpeg_command.thumbnail_command(
                ffmpeg_bin=self.ffmpeg_bin,
                source=relative,
                demuxer=info.demuxer,
                video_index=info.video_index,
                at_seconds=at_seconds,
                width=width,
                height=height,
            )
            result = self._run(
                cmd,
                work_dir,
                stop_reason,
                THUMBNAIL_TIMEOUT_SECONDS,
                VideoProcessingError(ErrorCode.TRANSCODE_STALLED, "the thumbnail took too long"),
            )
            if result.returncode != 0:
                raise _encode_failure("thumbnail", result.returncode, result.stderr_tail)
            if target.is_file() and target.stat().st_size > 0:
                return
        raise VideoProcessingError(ErrorCode.TRANSCODE_FAILED, "no frame for the thumbnail")


def _variants_as_planned(
    master: Path, renditions: list[Rendition], has_audio: bool
) -> dict[str, dict[str, str]] | None:
    """ffmpeg's own master, when it already names every planned variant with the planned
    RESOLUTION, a BANDWIDTH and CODECS for each stream: then no segment needs probing."""
    _header, variants = read_variants(master)
    by_uri = {variant.uri: variant.attributes for variant in variants}
    if sorted(by_uri) != sorted(r.playlist for r in renditions):
        return None
    for rendition in renditions:
        attrs = by_uri[rendition.playlist]
        codecs = attrs.get("CODECS", "").strip('"').split(",")
        if (
            attrs.get("RESOLUTION") != f"{rendition.width}x{rendition.height}"
            or not attrs.get("BANDWIDTH", "").isdigit()
            or not codecs[0].startswith("avc1.")
            or (len(codecs) == 2) != has_audio
            or (has_audio and not codecs[1].startswith("mp4a."))
        ):
            return None
    return by_uri


def _inside(source: Path, work_dir: Path) -> str:
    """`source` relative to `work_dir`; ffmpeg runs there and opens nothing outside it."""
    try:
        relative = source.relative_to(work_dir)
    except ValueError:
        relative = None
    # The output folder is emptied before the encode, so the source cannot live there.
    if relative is None or relative.parts[0] == ffmpeg_command.OUTPUT_DIR:
        raise VideoProcessingError(
            ErrorCode.INTERNAL_ERROR,
            "the source must be in the job's work folder, outside out/",
            retryable=False,  # a caller's mistake: another attempt makes the same one
        )
    return str(relative)


@contextlib.contextmanager
def _blaming_a_full_disk(work_dir: Path) -> Iterator[None]:
    """A failed encode on a full work folder is NO_SPACE_LEFT, whatever ffmpeg said.

    On a full disk ffmpeg's HLS muxer may even exit 0 with empty or missing segments, which
    the checks after it would blame on the upload (TRANSCODE_FAILED, not retryable).
    """
    try:
        yield
    except VideoProcessingError as exc:
        if exc.code != ErrorCode.NO_SPACE_LEFT and (
            _NO_SPACE in exc.message or disk_space.is_full(work_dir)
        ):
            raise VideoProcessingError(
                ErrorCode.NO_SPACE_LEFT,
                f"the work folder's disk is full ({disk_space.free_bytes(work_dir)} bytes free); "
                f"the encode failed with: {exc.message[:500]}",
                retryable=True,
            ) from exc
        raise
    except OSError as exc:  # writing the master playlist or the thumbnail ourselves
        if exc.errno in NO_SPACE_ERRNOS:
            raise VideoProcessingError(
                ErrorCode.NO_SPACE_LEFT, f"the work folder's disk is full: {exc}", retryable=True
            ) from exc
        raise


def _encode_failure(what: str, returncode: int, stderr_tail: str) -> VideoProcessingError:
    retryable = returncode < 0 or any(phrase in stderr_tail for phrase in _RESOURCE_ERRORS)
    return VideoProcessingError(
        ErrorCode.TRANSCODE_FAILED,
        f"{what} exited with {returncode}: {stderr_tail[-1000:] or 'no error output'}",
        retryable=retryable,
    )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
