"""Top-rung passthrough: when an upload's own H.264 video can be served as the top rendition.

Remuxing (`-c:v copy`) costs no encode and loses no quality, but it serves the source's bits
as they are, so it is chosen only when nothing speaks against it: a codec, profile, level and
pixel format every HLS player decodes, exactly the top rung's size with square pixels and no
rotation, keyframes that cut segments near the target length, and a bitrate at or below the
rung's `passthrough_kbps` (where a re-encode would not save bytes), or above it when the rate
trial (rate_trial.py) shows our own encode keeping most of the upload's bytes anyway. Bytes
served outweigh one-time CPU: when in doubt, encode. The other rungs then put their keyframes on the
source's keyframes and nowhere else, so every variant's segments line up for switching.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from src.infrastructure.media.ladder import Rendition
from src.infrastructure.media.probe import SourceInfo

# Profiles and the highest level (4.2: 1080p60) the HLS authoring guidelines allow for H.264.
PLAYER_SAFE_PROFILES = ("High", "Main")
MAX_LEVEL = 42
MAX_FPS = 60.0
# The longest segment the source's keyframes may force, as a multiple of the target.
MAX_SEGMENT_FACTOR = 1.5
# The encoded rungs copy the source's keyframes; denser ones than this would cost them bytes.
MIN_MEAN_KEYFRAME_INTERVAL = 1.0
# An upload above its rung's threshold but within this factor of it gets the rate trial
# (rate_trial.py): our encode of a few stretches set against the upload's own bytes there.
TRIAL_MAX_FACTOR = 3.0
# ... and is copied when that encode kept at least this share of its bytes: the upload is
# already lean, and a second encode would save under a fifth of the top rung's bytes while
# losing what a second generation loses (the bench's lecture-lowrate, 1.1 Mb/s from CRF 28:
# re-encoded at its own rate, SSIM 0.9966 where PeerTube's 1.6 Mb/s keeps 0.9988; a rich
# upload of easy content, 1.3 Mb/s from CRF 20, re-encodes to about half, docs/PERFORMANCE.md).
COPY_MIN_KEPT = 0.8


@dataclass(frozen=True)
class PassthroughDecision:
    copy: bool
    reason: str
    # Where the copied stream's segments will start (after 0), as predicted from its keyframes.
    cuts: tuple[float, ...] = ()
    longest_segment: float = 0.0


def refusal(info: SourceInfo, top: Rendition, max_fps: float = MAX_FPS) -> str | None:
    """Why the source's video cannot be the top rung, judged from the probe alone; None if
    only its keyframes are left to check."""
    return format_refusal(info, top, max_fps) or rate_refusal(info, top)


def format_refusal(info: SourceInfo, top: Rendition, max_fps: float = MAX_FPS) -> str | None:
    """`refusal` without the bitrate: what no rate trial can overcome."""
    probe = info.probe
    if top.passthrough_kbps <= 0:
        return f"passthrough is off for the {top.name} rung"
    if probe.video_codec != "h264":
        return f"the source video is {probe.video_codec or 'unknown'}, not H.264"
    if info.video_profile not in PLAYER_SAFE_PROFILES:
        return f"H.264 profile {info.video_profile or 'unknown'!r} is not High or Main"
    if info.pix_fmt != "yuv420p":
        return f"pixel format {info.pix_fmt or 'unknown'} is not 8-bit 4:2:0"
    if not 0 < info.video_level <= MAX_LEVEL:
        return f"H.264 level {info.video_level / 10:g} is above {MAX_LEVEL / 10:g}"
    if not info.progressive:
        return "the source is not known to be progressive"
    if info.rotated or not info.square_pixels:
        return "the source is rotated or has non-square pixels"
    if (probe.width, probe.height) != (top.width, top.height):
        return f"the source is {probe.width}x{probe.height}, the rung {top.width}x{top.height}"
    if info.fps > max_fps:
        return f"the source runs at {info.fps:g} fps, above {max_fps:g}"
    return None


def rate_refusal(info: SourceInfo, top: Rendition) -> str | None:
    """Why the source's bitrate alone rules out a copy, or None."""
    if info.video_kbps is None:
        return "the source video's bitrate is unknown"
    if info.video_kbps > top.passthrough_kbps:
        return (
            f"the source video's {info.video_kbps} kb/s is above the {top.name} rung's "
            f"passthrough threshold of {top.passthrough_kbps} kb/s"
        )
    return None


def hls_cuts(keyframes: Sequence[float], segment_seconds: float) -> list[float]:
    """The instants the HLS muxer starts a new segment at: the first keyframe at or after
    each multiple of the target (counted in segments, as ffmpeg's hlsenc counts them)."""
    cuts: list[float] = []
    for t in keyframes:
        if t > 0 and t >= (len(cuts) + 1) * segment_seconds:
            cuts.append(t)
    return cuts


def worth_a_rate_trial(info: SourceInfo, top: Rendition, max_fps: float = MAX_FPS) -> bool:
    """Whether only the source's rate stands in the way of a copy, and that rate is within
    TRIAL_MAX_FACTOR of the rung's threshold: then the rate trial (rate_trial.py) decides."""
    return (
        format_refusal(info, top, max_fps) is None
        and rate_refusal(info, top) is not None
        and info.video_kbps is not None
        and info.video_kbps <= top.passthrough_kbps * TRIAL_MAX_FACTOR
    )


def decide(
    info: SourceInfo,
    top: Rendition,
    keyframes: Sequence[float],
    segment_seconds: float,
    *,
    rate_on_trial: bool = False,
) -> PassthroughDecision:
    """The whole decision, keyframes included (times relative to the stream's start). With
    `rate_on_trial` the bitrate is left to the rate trial (`after_trial`)."""
    refused = format_refusal(info, top) if rate_on_trial else refusal(info, top)
    if refused:
        return PassthroughDecision(False, refused)
    if not keyframes or keyframes[0] > 1e-3:
        return PassthroughDecision(False, "the source does not start on a keyframe")
    cuts = hls_cuts(keyframes, segment_seconds)
    bounds = [0.0, *cuts, info.probe.duration_seconds]
    # The last segment may be short but not long.
    longest = max(b - a for a, b in itertools.pairwise(bounds))
    if longest > segment_seconds * MAX_SEGMENT_FACTOR:
        return PassthroughDecision(
            False,
            f"the source's keyframes make a {longest:.1f} s segment "
            f"(target {segment_seconds:g} s, at most {segment_seconds * MAX_SEGMENT_FACTOR:g})",
            longest_segment=longest,
        )
    interval = info.probe.duration_seconds / len(keyframes)
    if interval < MIN_MEAN_KEYFRAME_INTERVAL:
        return PassthroughDecision(
            False,
            f"the source has a keyframe every {interval:.2f} s; the other rungs would copy "
            "them and grow",
        )
    rate = (
        "" if rate_on_trial else f"{info.video_kbps} kb/s at or below {top.passthrough_kbps} kb/s, "
    )
    return PassthroughDecision(
        True,
        f"H.264 {info.video_profile} level {info.video_level / 10:g}, {rate}"
        f"segments up to {longest:.1f} s",
        tuple(cuts),
        longest,
    )


def after_trial(
    decision: PassthroughDecision, info: SourceInfo, top: Rendition, kept: float | None
) -> PassthroughDecision:
    """A copy that only the source's rate stood against, settled by the rate trial: `kept`
    is the share of the source's bytes our encode of the same stretches came to (None: the
    trial failed or weighed nothing, and when in doubt, encode)."""
    over = rate_refusal(info, top) or ""
    if not decision.copy or not over:
        return decision
    if kept is None:
        return PassthroughDecision(False, f"{over}; the rate trial could not tell more")
    said = f"our encode of the same stretches came to {kept:.0%} of its bytes"
    if kept < COPY_MIN_KEPT:
        return PassthroughDecision(False, f"{over}; {said}")
    return dataclasses.replace(
        decision, reason=f"{over}, but {said} (an upload already lean): {decision.reason}"
    )


def keyint_frames(decision: PassthroughDecision, fps: float) -> int:
    """A GOP length the encoded rungs never reach between two forced keyframes."""
    return max(1, math.ceil((decision.longest_segment + 1.0) * fps))
