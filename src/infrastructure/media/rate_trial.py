"""The rate trial: how many of an upload's own bytes our top-rung encode would keep.

An upload already encoded lean (a phone or a screen recorder at a low rate, a platform's
export) gains little from a second encode at the same size: capped at the source's own rate,
x264 at the rung's CRF spends nearly all of it and still loses what a second generation
loses. Such an upload is better copied (passthrough.py), but its rate alone cannot tell it
from a rich upload of easy content, whose re-encode is half its size. So the top rung's own
encode is tried on a few short stretches (TRIAL_SECONDS each, at the content probe's
positions) and its bytes are set against the source's packets in the same stretches.
"""

from __future__ import annotations

from collections.abc import Sequence

import ffmpeg

from src.infrastructure.media import ffmpeg_command
from src.infrastructure.media.content_probe import sample_times
from src.infrastructure.media.input_guard import QUIET_ARGS, upload_stretch
from src.infrastructure.media.ladder import Rendition

# Long enough for x264's rate control and lookahead to settle (60 frames at 30 fps), short
# enough that four of them cost a few percent of a minute-long encode.
TRIAL_SECONDS = 2.0
# Where the trial writes its video, in the job's work folder (outside out/).
RATE_TRIAL_FILE = "rate_trial.h264"

Window = tuple[float, float]


def trial_windows(duration_seconds: float) -> list[Window]:
    """The stretches tried, as [start, end) seconds from the video's start."""
    return [(at, at + TRIAL_SECONDS) for at in sample_times(duration_seconds)]


def rate_trial_command(
    *,
    ffmpeg_bin: str,
    source: str,
    demuxer: str,
    video_index: int,
    windows: Sequence[Window],
    rendition: Rendition,
    crf: float,
    x264_params: str,
    preset: str,
    output: str = RATE_TRIAL_FILE,
) -> list[str]:
    """ffmpeg encoding each window of the upload as the ladder's top rung would (same CRF,
    cap, preset and x264 parameters, a keyframe at each window's start) into `output`. Only
    an upload already at the rung's size with square pixels can be copied, so nothing is
    scaled."""
    stretches = [
        upload_stretch(
            source,
            demuxer,
            video_index,
            start,
            end - start,
            threads=ffmpeg_command.DECODER_THREADS,
        )
        .filter("setpts", "PTS-STARTPTS")
        .filter("format", "yuv420p")
        for start, end in windows
    ]
    joined = ffmpeg.concat(*stretches, v=1, a=0) if len(stretches) > 1 else stretches[0]
    options = ffmpeg_command.x264_options(rendition, crf, x264_params, preset)
    options["force_key_frames"] = f"expr:gte(t,n_forced*{TRIAL_SECONDS})"
    return (
        ffmpeg.output(joined, output, f="h264", **options)
        .global_args(*QUIET_ARGS)
        .overwrite_output()
        .compile(cmd=ffmpeg_bin)
    )


def kept_share(trial_bytes: int, source_bytes: int) -> float | None:
    """The trial's bytes over the source's in the same windows; None when the source's
    packets in them weigh nothing (nothing to compare with)."""
    if source_bytes <= 0 or trial_bytes <= 0:
        return None
    return trial_bytes / source_bytes
