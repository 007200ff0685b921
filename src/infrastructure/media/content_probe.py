"""The content probe: a cheap look at a few frames before the encode, to pick x264's tuning.

Screen recordings (text, code, UI: sharp edges on flat backgrounds, most of the picture still
from frame to frame) lose legibility at the quality point that suits camera pictures, and
cost few bits to keep sharp; a soft camera picture and a moving one need less of x264's
analysis than still slides, whose tuning is the ladder's own. The probe decodes
SAMPLES short stretches of the upload (a seek each, two consecutive frames), shrinks them to
ANALYSIS_WIDTH x ANALYSIS_HEIGHT and reduces each to two numbers in ffmpeg itself:

- edge density: the fraction of pixels on an edge (ffmpeg's `edgedetect`, Canny);
- change: the fraction of pixels whose luma moved by more than CHANGE_THRESHOLD between the
  two frames (a cursor or a clock changes a few; a camera's noise or a pan changes most).

Each stretch comes out as one raw gray frame, the edge map on top of the change map (each
pixel 0 or 255), so the parser only averages bytes (the change is the median stretch's: one
stretch on a cut says nothing of how the picture moves). What is
chosen, and why, is measured in docs/PERFORMANCE.md; `choose_tuning` is the whole decision.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import ffmpeg

from src.infrastructure.media.input_guard import QUIET_ARGS, upload_stretch

# Stretches looked at, spread over the middle of the video (not its first or last seconds:
# a title card or a fade says little about the lecture).
SAMPLES = 4
SAMPLE_POSITIONS = (0.2, 0.4, 0.6, 0.8)
# Small enough to cost little, large enough that 1080p text strokes stay edges (a 22 px
# code font keeps strokes of two or three pixels at this width).
ANALYSIS_WIDTH = 960
ANALYSIS_HEIGHT = 540
# Read from each seek point: enough for two frames at any frame rate, so the decoder stops
# there instead of running to the end of the file.
STRETCH_SECONDS = 0.5
# Canny thresholds (fractions of full scale): text and UI lines pass, soft gradients and
# sensor noise do not.
EDGE_LOW = 0.08
EDGE_HIGH = 0.2
# A luma step larger than sensor noise after a recorder's encode (8-bit levels).
CHANGE_THRESHOLD = 12
# Where the command writes its frames, in the job's work folder (outside out/).
CONTENT_PROBE_FILE = "content_probe.gray"

# The decision (docs/PERFORMANCE.md, "The content probe"): a screen recording has many
# edges and a still picture. Measured on the bench's sources: screencast edge density 0.034
# with 0.04 % of pixels changing; slide lecture 0.008 (0.2 %); full-frame motion 0.007
# (3.4 %); talking head 0.002 (0.1 %). The line sits between the screencast and the rest.
SCREEN_MIN_EDGES = 0.02
SCREEN_MAX_CHANGE = 0.05
# What a screen recording gets: a lower CRF on every rung (x264 spends the bits on edges that
# must stay legible; flat backgrounds cost nothing whatever the CRF).
SCREEN_CRF_OFFSET = -3.0
# ... and caps at twice the source's average rate rather than at it: a screen recording is
# still for seconds and then changes whole, so its average says nothing of its peaks (on
# the bench's screencast a cap at its own 0.66 Mb/s cost the 1080p 0.0014 of SSIM).
SCREEN_SOURCE_CAP_FACTOR = 2.0
# One B-frame between references, placed without x264's adaptive search (b-adapt=0), where
# the ladder leaves veryfast's three adaptively placed: for a picture that moves or is noisy,
# a B-frame predicts little (noise, full-frame motion) and its analysis and the search that
# places it are a large share of x264's work. Measured on 20 s of the bench's sources, three
# runs each (docs/PERFORMANCE.md, "Sixth round"): full-frame motion 14 % less CPU for 2 %
# fewer bytes, SSIM within 0.0001 on every rung; the talking head 15 % (with the top rung's
# CRF below), the screencast 6 % for 3 % more bytes. Slides keep three: their still picture
# makes B-frames nearly free, and one instead of three cost the slide lecture 10 % more bytes.
FEW_B_FRAMES = "bframes=1:b-adapt=0"
# A soft camera picture (few edges: a talking head, a lecture hall) gets a lower CRF on its
# top encoded rung (23.5 instead of the ladder's 24): most of what its top rung carries is
# the camera's noise, which SSIM counts. On the bench's talking head (edge density 0.002)
# with FEW_B_FRAMES: 1080p SSIM 0.9796 at 23.5 against 0.9779 at 24, 2 % fewer bytes than
# three B-frames at 23 (SSIM 0.9783). Slides (0.008) and full-frame motion (0.007) lose at
# most 0.0016 against PeerTube at 24; the line sits between them.
SOFT_MAX_EDGES = 0.004
SOFT_TOP_CRF_OFFSET = -0.5
# ... and no inter partitions smaller than a macroblock on any rung (x264 keeps its 8x8 and
# 4x4 intra ones): a soft picture moves in large blocks. On the bench's talking head: 5 %
# less CPU, the same bytes, SSIM within 0.0001 on every rung; on full-frame motion's top rung
# the same setting cost 6 % more bytes (docs/PERFORMANCE.md, "Fifth round").
SOFT_X264_PARAMS = f"partitions=i8x8,i4x4:{FEW_B_FRAMES}"
# A picture of which at least this share changes between two frames moves as a whole (a pan,
# a game, a demo on a moving camera): the bench's full-frame motion 3.4 %, the slide lecture
# with its speaker inset 0.2 %, the talking head 0.1 %; the line sits between them.
MOTION_MIN_CHANGE = 0.01
MOTION_X264_PARAMS = FEW_B_FRAMES
# ... and on its rungs below the top, no subpixel refinement and no inter partitions below a
# macroblock: 5 % less CPU on the bench's full-frame motion for 1 % more bytes, SSIM within
# 0.0004 of the ladder's own on every lower rung (the top rung keeps both: there the same
# cost 21 % and 6 % more bytes, docs/PERFORMANCE.md, "Fourth round" and "Fifth round").
MOTION_LOWER_X264_PARAMS = "subme=0:partitions=i8x8,i4x4"
# ... and a top rung copied only at half the rung's passthrough threshold: a screen
# recorder spends far more than x264 at CRF 20 needs (the bench's 0.66 Mb/s screencast:
# 0.88 MB per 10 s copied, 0.55 MB re-encoded at the same SSIM).
SCREEN_PASSTHROUGH_FACTOR = 0.5
# ... and less x264 analysis on every encoded rung: no subpixel refinement (x264's subme=0,
# where the ladder uses 1) and no search for weighted prediction (a screen does not fade):
# on the bench's screencast 7 % less CPU for 2 % more bytes, SSIM and the code pane's SSIM
# within 0.0001 on every rung (docs/PERFORMANCE.md, "Fifth round"); and FEW_B_FRAMES, 6 %
# less again ("Sixth round"). A top rung at its cap keeps the rate-bound refinement
# (ffmpeg_command.x264_params_for).
SCREEN_X264_PARAMS = f"subme=0:weightp=0:{FEW_B_FRAMES}"
# ... and no rate trial (rate_trial.py) to argue a copy: a still screen's bytes are nearly all
# keyframes, and the trial's short stretches each start on one, so it overstates what the
# ladder's encode keeps (the bench's screencast: 94 % in the trial, 62 % in the encode).


@dataclass(frozen=True)
class ContentStats:
    """What the probe measured: the edge density averaged over the stretches it looked at,
    the change of the median stretch."""

    edge_density: float
    change: float
    samples: int


@dataclass(frozen=True)
class Tuning:
    """How the encode adapts to the content: `crf_offset` is added to every rung's CRF;
    `rate_bound_top` gives the top encoded rung more subpixel refinement (the encode's
    RATE_BOUND_X264_PARAMS), because its cap, not its CRF, will decide its quality."""

    kind: str
    crf_offset: float
    reason: str
    rate_bound_top: bool = False
    source_cap_factor: float = 1.0
    passthrough_factor: float = 1.0
    # Added to the top encoded rung's CRF on top of `crf_offset`.
    top_crf_offset: float = 0.0
    # Whether a source above the top rung's passthrough threshold may be tried (rate_trial.py).
    rate_trial: bool = True
    # x264 parameters over the ladder's own on every encoded rung (ffmpeg_command.x264_params_for).
    x264_params: str | None = None
    # ... and over those on every encoded rung below the top one.
    lower_x264_params: str | None = None


DEFAULT_TUNING = Tuning("default", 0.0, "the content was not probed")


# Each kind's x264 parameters on every encoded rung, and on those below the top one (a kind
# not listed: the ladder's own).
_KIND_X264_PARAMS: dict[str, tuple[str, str | None]] = {
    "screen": (SCREEN_X264_PARAMS, None),
    "camera": (SOFT_X264_PARAMS, None),
    "motion": (MOTION_X264_PARAMS, MOTION_LOWER_X264_PARAMS),
}


def choose_tuning(
    stats: ContentStats | None, source_video_kbps: int | None = None, top_cap_kbps: int = 0
) -> Tuning:
    """The tuning for what the probe saw (None: it saw nothing) and for the source's rate
    against the top rung's own cap (before any lowering to the source's rate)."""
    rate_bound = bool(source_video_kbps and top_cap_kbps and source_video_kbps >= top_cap_kbps)
    rate_note = (
        f"; the source's {source_video_kbps} kb/s reaches the top rung's {top_cap_kbps} kb/s "
        "cap: more x264 effort there"
        if rate_bound
        else ""
    )
    if stats is None or stats.samples == 0:
        if rate_bound:
            return Tuning("default", 0.0, "the content was not probed" + rate_note, True)
        return DEFAULT_TUNING
    measured = f"edge density {stats.edge_density:.3f}, {stats.change:.1%} of pixels changing"
    top_offset = 0.0
    if stats.edge_density >= SCREEN_MIN_EDGES and stats.change <= SCREEN_MAX_CHANGE:
        kind, offset, words = "screen", SCREEN_CRF_OFFSET, "screen content"
    elif stats.edge_density < SOFT_MAX_EDGES:
        kind, offset, words = "camera", 0.0, "a soft camera picture"
        top_offset = SOFT_TOP_CRF_OFFSET
    elif stats.change >= MOTION_MIN_CHANGE:
        kind, offset, words = "motion", 0.0, "a moving picture"
    else:
        kind, offset, words = "default", 0.0, "a still picture (slides)"
    screen = kind == "screen"
    every_rung, lower_rungs = _KIND_X264_PARAMS.get(kind, (None, None))
    return Tuning(
        kind,
        offset,
        f"{words}: {measured}{rate_note}",
        rate_bound,
        SCREEN_SOURCE_CAP_FACTOR if screen else 1.0,
        SCREEN_PASSTHROUGH_FACTOR if screen else 1.0,
        top_offset,
        rate_trial=not screen,
        x264_params=every_rung,
        lower_x264_params=lower_rungs,
    )


def sample_times(duration_seconds: float) -> list[float]:
    """Where the stretches start: SAMPLE_POSITIONS of the duration, at least 0."""
    return [max(0.0, duration_seconds * p) for p in SAMPLE_POSITIONS[:SAMPLES]]


def content_probe_command(
    *,
    ffmpeg_bin: str,
    source: str,
    demuxer: str,
    video_index: int,
    duration_seconds: float,
    output: str = CONTENT_PROBE_FILE,
) -> list[str]:
    """ffmpeg writing to `output` (relative to the cwd) one raw gray frame per stretch: the
    averaged edge map on top of the averaged change map (see the module's docstring)."""
    stretches = []
    for at in sample_times(duration_seconds):
        frames = (
            upload_stretch(source, demuxer, video_index, at, STRETCH_SECONDS)
            .filter("trim", end_frame=2)
            .filter("setpts", "PTS-STARTPTS")
            .filter("scale", ANALYSIS_WIDTH, ANALYSIS_HEIGHT, flags="area")
            .filter("format", "gray")
            .filter_multi_output("split", 2)
        )
        edges = (
            frames.stream(0)
            .filter("trim", end_frame=1)
            .filter("edgedetect", low=EDGE_LOW, high=EDGE_HIGH)
        )
        change = (
            frames.stream(1)
            .filter("tblend", all_mode="difference")
            .filter("setpts", "PTS-STARTPTS")  # the difference is stamped with the 2nd frame
            .filter("lut", y=f"if(gt(val,{CHANGE_THRESHOLD}),255,0)")
        )
        stretches.append(ffmpeg.filter([edges, change], "vstack", inputs=2, shortest=1))
    joined = ffmpeg.concat(*stretches, v=1, a=0) if len(stretches) > 1 else stretches[0]
    return (
        ffmpeg.output(joined, output, f="rawvideo", pix_fmt="gray", fps_mode="passthrough")
        .global_args(*QUIET_ARGS)
        .overwrite_output()
        .compile(cmd=ffmpeg_bin)
    )


def parse_content_probe(raw: bytes) -> ContentStats | None:
    """The stats from the command's output file; None when it held no whole stretch."""
    cell = ANALYSIS_WIDTH * ANALYSIS_HEIGHT
    frames = [raw[i : i + 2 * cell] for i in range(0, len(raw) - 2 * cell + 1, 2 * cell)]
    if not frames:
        return None
    edges = [_mean(frame[:cell]) for frame in frames]
    # The median stretch's change: one stretch that falls on a cut (the next slide, a window
    # switched to) changes whole and says nothing of how the picture moves.
    change = statistics.median(_mean(frame[cell:]) for frame in frames)
    return ContentStats(statistics.fmean(edges), change, len(frames))


def _mean(grid: bytes) -> float:
    return sum(grid) / (255 * len(grid))
