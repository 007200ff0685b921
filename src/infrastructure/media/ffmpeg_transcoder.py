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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from src.application.domain import ErrorCode, VideoProcessingError
from src.application.ports.captions import AudioExtractor
from src.application.ports.storage import NO_SPACE_ERRNOS
from src.application.ports.transcoder import (
    ProgressCallback,
    StopCheck,
    TranscodeOutput,
    Transcoder,
)
from src.infrastructure import disk_space
from src.infrastructure.logging import get_logger
from src.infrastructure.media import ffmpeg_command
from src.infrastructure.media.binaries import binary_version
from src.infrastructure.media.content_probe import (
    CONTENT_PROBE_FILE,
    Tuning,
    choose_tuning,
    content_probe_command,
    parse_content_probe,
)
from src.infrastructure.media.ffmpeg_progress import FfmpegProgress
from src.infrastructure.media.input_guard import file_url, guarded_input_args
from src.infrastructure.media.ladder import (
    AUDIO_KBPS,
    AUDIO_NAME,
    DEFAULT_LADDER,
    Rendition,
    Rung,
    format_ladder,
    plan_ladder,
)
from src.infrastructure.media.master_playlist import (
    MasterVariant,
    aac_codec,
    avc_codec,
    distinct_variants,
    media_bandwidth,
    read_variants,
    write_master,
)
from src.infrastructure.media.passthrough import (
    PassthroughDecision,
    after_trial,
    decide,
    keyint_frames,
    refusal,
    worth_a_rate_trial,
)
from src.infrastructure.media.probe import (
    KeyframeTimes,
    SourceInfo,
    keyframes_command,
    parse_probe,
    probe_command,
    probe_failure,
)
from src.infrastructure.media.process_runner import ProcessResult, ProcessStalled, run_process
from src.infrastructure.media.rate_trial import (
    RATE_TRIAL_FILE,
    kept_share,
    rate_trial_command,
    trial_windows,
)

# What a short ffmpeg look at the upload reads back from the file it wrote.
T = TypeVar("T")

# ffprobe reads headers only; a real upload answers in well under a second.
PROBE_TIMEOUT_SECONDS = 30.0
# A few seeks and two frames each; longer means something is wrong with the file.
CONTENT_PROBE_TIMEOUT_SECONDS = 60.0
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


# The caption job's audio: what faster-whisper reads (16 kHz mono PCM).
AUDIO_SAMPLE_RATE = 16000
CAPTION_AUDIO = "audio16k.wav"
# Decoding audio runs far faster than real time; a decode that takes longer than this share
# of the video's duration (and at least the minimum) has stalled.
AUDIO_DECODE_MIN_SECONDS = 120.0
AUDIO_DECODE_SHARE = 0.5


class FfmpegTranscoder(Transcoder, AudioExtractor):
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
        audio_kbps: int = AUDIO_KBPS,
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
        self.audio_kbps = audio_kbps
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
            "ladder": cfg.video_ladder,
            "audio_kbps": cfg.video_audio_kbps,
            "ffmpeg_bin": getattr(cfg, "ffmpeg_binary", "ffmpeg"),
            "ffprobe_bin": getattr(cfg, "ffprobe_binary", "ffprobe"),
        }
        values.update(overrides)
        return cls(**values)

    def versions(self) -> dict[str, str]:
        """`ffmpeg_version` and `ffprobe_version`; MissingBinary when one cannot run."""
        return {
            "ffmpeg_version": binary_version("FFMPEG_BINARY", self.ffmpeg_bin),
            "ffprobe_version": binary_version("FFPROBE_BINARY", self.ffprobe_bin),
        }

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
        renditions = plan_ladder(
            info.display_width, info.display_height, self.ladder, info.video_kbps
        )
        tuning = self._content(relative, work_dir, info, renditions[0], stop_reason)
        if (tuning.source_cap_factor, tuning.passthrough_factor) != (1.0, 1.0):
            renditions = plan_ladder(
                info.display_width,
                info.display_height,
                self.ladder,
                info.video_kbps,
                tuning.source_cap_factor,
                tuning.passthrough_factor,
            )
        decision = self._passthrough(relative, work_dir, info, renditions[0], tuning, stop_reason)
        timings["probe"] = _ms_since(started)
        log = get_logger()
        log.info(
            "VIDEO_LADDER_PLANNED",
            passthrough=decision.copy,
            reason=decision.reason,
            content=tuning.kind,
            content_reason=tuning.reason,
            source_video_kbps=info.video_kbps,
            ladder=format_ladder(self.ladder),
            renditions=[f"{r.name} {r.width}x{r.height} cap {r.maxrate_kbps}k" for r in renditions],
        )

        started = time.monotonic()
        out_dir = work_dir / ffmpeg_command.OUTPUT_DIR
        with _blaming_a_full_disk(work_dir):
            self._encode(
                relative, work_dir, info, renditions, decision, tuning, on_progress, stop_reason
            )
            if decision.copy and not _segments_aligned(out_dir, renditions):
                # The copied stream was cut elsewhere than predicted: players could not switch
                # cleanly, so this upload is encoded like any other.
                decision = PassthroughDecision(
                    False, "the copied top rung's segments did not line up with the others"
                )
                log.warning("VIDEO_PASSTHROUGH_ABANDONED", reason=decision.reason)
                self._encode(
                    relative,
                    work_dir,
                    info,
                    renditions,
                    decision,
                    tuning,
                    on_progress,
                    stop_reason,
                )
            measured, dropped = self._write_master(
                out_dir, work_dir, renditions, info, decision, stop_reason
            )
            for name, reason in dropped.items():
                log.info("VIDEO_RENDITION_DROPPED", rendition=name, reason=reason)
            timings["transcode"] = _ms_since(started)

            started = time.monotonic()
            thumbnail = out_dir / ffmpeg_command.THUMBNAIL
            if not (thumbnail.is_file() and thumbnail.stat().st_size > 0):
                # The encode's own thumbnail branch found no frame (odd timestamps): seek for one.
                self._thumbnail(relative, work_dir, info, stop_reason)
            timings["thumbnail"] = _ms_since(started)
        on_progress(100.0, "thumbnail")

        has_audio = info.audio_index is not None
        # Where the segments' timeline starts (MPEG-TS adds a delay): subtitle segments are
        # mapped onto it (X-TIMESTAMP-MAP), so captions line up with the picture.
        first = sorted((out_dir / renditions[0].name).glob("seg_*.ts"))[:1]
        start = self.start_seconds(first[0], work_dir, stop_reason) if first else 0.0
        copied = renditions[0].name if decision.copy else None
        top_encoded = next((r.name for r in renditions if r.name != copied), None)
        served = [r for r in renditions if r.name not in dropped]
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
                    "video": "copy" if r.name == copied else "libx264",
                    "crf": (
                        None
                        if r.name == copied
                        else ffmpeg_command.tuned_crf(
                            r.crf, tuning.crf_offset, tuning.top_crf_offset, r.name == top_encoded
                        )
                    ),
                    "maxrate_kbps": r.maxrate_kbps,
                    "maxrate_capped_from_kbps": r.capped_from_kbps or None,
                    "audio_bitrate_kbps": self.audio_kbps if has_audio else 0,
                    "audio_playlist": f"{AUDIO_NAME}/index.m3u8" if has_audio else None,
                    "bandwidth": measured[r.playlist].bandwidth,
                    "average_bandwidth": measured[r.playlist].average_bandwidth,
                    "playlist": r.playlist,
                    "start_seconds": round(start, 6),
                    **(
                        {
                            "passthrough": decision.copy,
                            "passthrough_reason": decision.reason,
                            "content": tuning.kind,
                            "content_reason": tuning.reason,
                            "dropped": [
                                {"name": name, "reason": reason} for name, reason in dropped.items()
                            ],
                        }
                        if i == 0
                        else {}
                    ),
                }
                for i, r in enumerate(served)
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

    # -- the caption job's audio -----------------------------------------------------------
    def extract(self, source: Path, work_dir: Path, stop_reason: StopCheck) -> Path | None:
        """The upload's first audio stream as 16 kHz mono WAV, probed and decoded under the
        same input guard and limits as an encode; None when it has no audio stream."""
        work_dir = Path(work_dir).resolve()
        relative = _inside(Path(source).resolve(), work_dir)
        info = self._probe(relative, work_dir, stop_reason)
        self._check_limits(info)
        if info.audio_index is None:
            return None
        cmd = [
            self.ffmpeg_bin,
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            *guarded_input_args(info.demuxer),
            "-i",
            file_url(relative),
            "-map",
            f"0:{info.audio_index}",
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(AUDIO_SAMPLE_RATE),
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            "-y",
            file_url(CAPTION_AUDIO),
        ]
        limit = max(AUDIO_DECODE_MIN_SECONDS, info.probe.duration_seconds * AUDIO_DECODE_SHARE)
        with _blaming_a_full_disk(work_dir):
            result = self._run(
                cmd,
                work_dir,
                stop_reason,
                limit,
                VideoProcessingError(
                    ErrorCode.TRANSCODE_STALLED, f"decoding the audio took longer than {limit:g} s"
                ),
            )
            if result.returncode != 0:
                raise _encode_failure("ffmpeg (audio)", result.returncode, result.stderr_tail)
        return work_dir / CAPTION_AUDIO

    def start_seconds(self, segment: Path, work_dir: Path, stop_reason: StopCheck) -> float:
        work_dir = Path(work_dir).resolve()
        try:  # a segment we wrote (out/) or fetched into the job's folder, nothing outside it
            relative = str(Path(segment).resolve().relative_to(work_dir))
        except ValueError:
            return 0.0
        try:
            result = self._run(
                probe_command(self.ffprobe_bin, relative, "-show_entries", "format=start_time"),
                work_dir,
                stop_reason,
                PROBE_TIMEOUT_SECONDS,
                VideoProcessingError(ErrorCode.PROBE_FAILED, "ffprobe took too long"),
            )
            start = json.loads(result.stdout or "{}").get("format", {}).get("start_time")
            return max(float(start), 0.0) if start is not None else 0.0
        except (VideoProcessingError, ValueError, TypeError):
            return 0.0

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

    def _passthrough(
        self,
        relative: str,
        work_dir: Path,
        info: SourceInfo,
        top: Rendition,
        tuning: Tuning,
        stop_reason: StopCheck,
    ) -> PassthroughDecision:
        """Whether the top rung is the source's own video; its keyframes are read (packets
        only, no decoding) only when everything else already allows it."""
        refused = refusal(info, top, ffmpeg_command.MAX_FPS)
        on_trial = tuning.rate_trial and worth_a_rate_trial(info, top, ffmpeg_command.MAX_FPS)
        if refused and not on_trial:
            return PassthroughDecision(False, refused)
        windows = trial_windows(info.probe.duration_seconds) if on_trial else ()
        keyframes = KeyframeTimes(info.start_seconds, windows)
        quiet = VideoProcessingError(ErrorCode.PROBE_FAILED, "the packet listing stalled")
        try:
            result = self._run(
                keyframes_command(self.ffprobe_bin, relative, info.video_index),
                work_dir,
                stop_reason,
                PROBE_TIMEOUT_SECONDS,
                quiet,
                watcher=keyframes,
            )
        except VideoProcessingError:  # when in doubt, encode (a stop request still stops)
            return PassthroughDecision(False, "the source's packets could not be listed in time")
        if result.returncode != 0:
            return PassthroughDecision(False, "the source's packets could not be listed")
        decision = decide(info, top, keyframes.times, self.segment_seconds, rate_on_trial=on_trial)
        if not (on_trial and decision.copy):
            return decision
        trial_bytes = self._rate_trial(relative, work_dir, info, top, windows, tuning, stop_reason)
        return after_trial(decision, info, top, kept_share(trial_bytes, keyframes.window_bytes))

    def _rate_trial(
        self,
        relative: str,
        work_dir: Path,
        info: SourceInfo,
        top: Rendition,
        windows: Sequence[tuple[float, float]],
        tuning: Tuning,
        stop_reason: StopCheck,
    ) -> int:
        """The bytes of the top rung's own encode of `windows` (rate_trial.py); 0 when the
        trial failed (a stop request still stops)."""
        cmd = rate_trial_command(
            ffmpeg_bin=self.ffmpeg_bin,
            source=relative,
            demuxer=info.demuxer,
            video_index=info.video_index,
            windows=windows,
            rendition=top,
            crf=ffmpeg_command.tuned_crf(top.crf, tuning.crf_offset, tuning.top_crf_offset, True),
            x264_params=ffmpeg_command.x264_params_for(tuning.x264_params, tuning.rate_bound_top),
            preset=self.preset,
        )
        size = self._look(cmd, work_dir, RATE_TRIAL_FILE, "rate trial", stop_reason, _file_size)
        return size or 0

    def _look(
        self,
        cmd: list[str],
        work_dir: Path,
        file: str,
        what: str,
        stop_reason: StopCheck,
        read: Callable[[Path], T] = Path.read_bytes,
    ) -> T | None:
        """Run a short ffmpeg look at the upload (the content probe, the rate trial) and
        `read` the file it wrote, which is then deleted; None when it failed. A stop request
        still stops, and an ffmpeg that goes quiet is a stall, as it would be in the encode."""
        output = work_dir / file
        seconds = min(CONTENT_PROBE_TIMEOUT_SECONDS, self.stall_seconds)
        quiet = VideoProcessingError(
            ErrorCode.TRANSCODE_STALLED,
            f"ffmpeg's {what} made no progress for {seconds:g} s and was killed",
        )
        try:
            result = self._run(cmd, work_dir, stop_reason, seconds, quiet)
            return read(output) if result.returncode == 0 else None
        except OSError:
            return None
        finally:
            output.unlink(missing_ok=True)

    def _content(
        self,
        relative: str,
        work_dir: Path,
        info: SourceInfo,
        top: Rendition,
        stop_reason: StopCheck,
    ) -> Tuning:
        """The content probe's tuning; the defaults when it cannot tell (when in doubt, the
        settings every other upload gets)."""
        cmd = content_probe_command(
            ffmpeg_bin=self.ffmpeg_bin,
            source=relative,
            demuxer=info.demuxer,
            video_index=info.video_index,
            duration_seconds=info.probe.duration_seconds,
        )
        written = self._look(cmd, work_dir, CONTENT_PROBE_FILE, "content probe", stop_reason)
        stats = parse_content_probe(written) if written is not None else None
        top_cap = top.capped_from_kbps or top.maxrate_kbps
        return choose_tuning(stats, info.video_kbps, top_cap)

    def _encode(
        self,
        relative: str,
        work_dir: Path,
        info: SourceInfo,
        renditions: list[Rendition],
        decision: PassthroughDecision,
        tuning: Tuning,
        on_progress: ProgressCallback,
        stop_reason: StopCheck,
    ) -> None:
        out_dir = work_dir / ffmpeg_command.OUTPUT_DIR
        shutil.rmtree(out_dir, ignore_errors=True)  # a previous attempt's leftovers
        for name in [r.name for r in renditions] + [AUDIO_NAME]:
            (out_dir / name).mkdir(parents=True)
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
            audio_kbps=self.audio_kbps,
            copy_keyint=keyint_frames(decision, info.fps) if decision.copy else 0,
            crf_offset=tuning.crf_offset,
            rate_bound_top=tuning.rate_bound_top,
            top_crf_offset=tuning.top_crf_offset,
            x264_params=tuning.x264_params,
            lower_x264_params=tuning.lower_x264_params,
            thumbnail=(
                info.probe.duration_seconds * self.thumbnail_at,
                *ffmpeg_command.thumbnail_size(info.display_width, info.display_height),
            ),
        )
        if info.audio_index is None:
            (out_dir / AUDIO_NAME).rmdir()
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

    def _write_master(
        self,
        out_dir: Path,
        work_dir: Path,
        renditions: list[Rendition],
        info: SourceInfo,
        decision: PassthroughDecision,
        stop_reason: StopCheck,
    ) -> tuple[dict[str, MasterVariant], dict[str, str]]:
        """Write the served master from what was written: measured BANDWIDTH (peak) and
        AVERAGE-BANDWIDTH of each variant with the shared audio, RESOLUTION, CODECS. A
        rendition whose BANDWIDTH is not clearly below the one above it is dropped (its
        folder deleted); returns the measured variants and {dropped name: why}."""
        master = out_dir / ffmpeg_command.MASTER_PLAYLIST
        if not master.is_file():
            raise VideoProcessingError(
                ErrorCode.TRANSCODE_FAILED, "ffmpeg wrote no master playlist"
            )
        _header, drafts = read_variants(master)
        draft = {variant.uri: variant.attributes for variant in drafts}
        has_audio = info.audio_index is not None
        audio_uri = f"{AUDIO_NAME}/index.m3u8" if has_audio else None
        try:
            audio_peak, audio_average = (
                media_bandwidth(out_dir / audio_uri) if audio_uri else (0, 0)
            )
            variants = {}
            for i, rendition in enumerate(renditions):
                if decision.copy and i == 0:
                    codec = avc_codec(info.video_profile, info.video_level)
                else:
                    codec = _draft_codec(draft.get(rendition.playlist, {}), rendition)
                    codec = codec or self._probed_codec(out_dir, work_dir, rendition, stop_reason)
                peak, average = media_bandwidth(out_dir / rendition.playlist)
                variants[rendition.playlist] = MasterVariant(
                    uri=rendition.playlist,
                    bandwidth=peak + audio_peak,
                    average_bandwidth=average + audio_average,
                    width=rendition.width,
                    height=rendition.height,
                    codecs=codec + ("," + aac_codec("LC") if has_audio else ""),
                    frame_rate=min(info.fps, ffmpeg_command.MAX_FPS),
                )
        except (OSError, ValueError) as exc:
            raise VideoProcessingError(ErrorCode.TRANSCODE_FAILED, str(exc)) from exc
        kept, dropped = distinct_variants(list(variants.values()))
        names = {r.playlist: r.name for r in renditions}
        for variant, _reason in dropped:
            shutil.rmtree(out_dir / names[variant.uri])
        write_master(master, kept, audio_uri, AUDIO_NAME)
        return variants, {names[variant.uri]: reason for variant, reason in dropped}

    def _probed_codec(
        self, out_dir: Path, work_dir: Path, rendition: Rendition, stop_reason: StopCheck
    ) -> str:
        """The RFC 6381 codec of a rendition, read off its first segment (ffmpeg's draft
        master did not say), after checking the segment holds the planned size."""
        video = self._segment_video(out_dir, work_dir, rendition, stop_reason)
        if (video.get("width"), video.get("height")) != (rendition.width, rendition.height):
            raise VideoProcessingError(
                ErrorCode.TRANSCODE_FAILED,
                f"{rendition.name} came out {video.get('width')}x{video.get('height')}",
            )
        try:
            return avc_codec(str(video.get("profile")), int(video.get("level", 0)))
        except ValueError as exc:
            raise VideoProcessingError(ErrorCode.TRANSCODE_FAILED, str(exc)) from exc

    def _segment_video(
        self, out_dir: Path, work_dir: Path, rendition: Rendition, stop_reason: StopCheck
    ) -> dict[str, Any]:
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
        if video is None or video.get("codec_name") != "h264":
            raise unreadable
        return video

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


def _draft_codec(attrs: dict[str, str], rendition: Rendition) -> str | None:
    """The video codec ffmpeg's draft master states for a variant, if it states one for the
    planned size: then no segment needs probing."""
    codec = attrs.get("CODECS", "").strip('"').split(",")[0]
    if attrs.get("RESOLUTION") == f"{rendition.width}x{rendition.height}" and codec.startswith(
        "avc1."
    ):
        return codec
    return None


def _segment_durations(playlist: Path) -> list[float]:
    return [
        float(line.split(":", 1)[1].split(",", 1)[0])
        for line in playlist.read_text().splitlines()
        if line.startswith("#EXTINF:")
    ]


def _segments_aligned(out_dir: Path, renditions: list[Rendition]) -> bool:
    """Every variant cut at the same instants: as many segments, each but the last as long
    (within 50 ms; the streams may end a few frames apart)."""
    lists = [_segment_durations(out_dir / r.playlist) for r in renditions]
    return all(
        len(other) == len(lists[0])
        and all(abs(a - b) < 0.05 for a, b in zip(other[:-1], lists[0][:-1], strict=True))
        for other in lists[1:]
    )


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


def _file_size(path: Path) -> int:
    return path.stat().st_size


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
