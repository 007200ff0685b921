"""The HLS ladder: which renditions a source gets (never upscaled) and how each is rate-controlled.

Each rung is encoded at a constant quality (x264 CRF) capped by a peak rate (`maxrate`, with
a VBV buffer of BUFSIZE_FACTOR times that): a static slide costs few bits, a hard scene is
still bounded so the player can trust the playlist's BANDWIDTH. No cap is ever set above
what the source itself carries: a 2.9 Mb/s 1080p upload never becomes a 5 Mb/s rendition
(a screen recording, whose average hides its peaks, may reach twice its average rate), and
a smaller rung gets that rate scaled by its size against the source's (its short side over
the source's), so lowered caps still step down the ladder instead of all meeting at the
source's rate, where the bandwidth rule would drop every rung below the first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# VBV buffer as a multiple of the peak rate: two seconds of slack lets a slide change (an
# I-frame-heavy moment) borrow bits from the static seconds around it.
BUFSIZE_FACTOR = 2.0
# No cap below this, whatever the source says: x264 needs room for a 1080p keyframe (a
# smaller rung's floor is scaled down with its size, as its cap is).
MIN_CAP_KBPS = 200
# Rendition names become folder names and var_stream_map entries.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# The shared audio rendition's folder; no rung may take this name.
AUDIO_NAME = "audio"
AUDIO_KBPS = 128


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: `height` is the short side (so portrait video works too).

    `crf` is x264's constant-quality factor (lower is better and larger), `maxrate_kbps`
    the peak video rate, and `passthrough_kbps` the highest source video rate at which a
    source of exactly this rung's size is remuxed rather than re-encoded (0: never).
    """

    name: str
    height: int
    crf: float
    maxrate_kbps: int
    passthrough_kbps: int = 0

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name == AUDIO_NAME:
            raise ValueError(
                f"rung name {self.name!r} must match {_NAME.pattern} and not be {AUDIO_NAME!r}"
            )
        if self.height < 2 or self.maxrate_kbps <= 0 or self.passthrough_kbps < 0:
            raise ValueError(f"rung {self.name!r} needs a height >= 2 and a positive maxrate")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"rung {self.name!r}: crf must be between 0 and 51")


# Defaults measured on the bench's five kinds of lecture (docs/PERFORMANCE.md). The two
# large rungs sit one CRF step above PeerTube's 23: on the 60 s bench that step takes 10 to
# 30 % of their bytes for at most 0.0012 of SSIM (slides, full-frame motion; a soft camera
# picture gets 23.5 on its top rung, content_probe.SOFT_MAX_EDGES), while the small rungs,
# shown enlarged on a phone or in a small window, keep 23. The
# passthrough thresholds sit at what our own encode of easy content comes to (the 1080p
# slide lecture at CRF 23: 0.74 Mb/s; a screencast at CRF 20: 0.44 Mb/s): copying a source
# above that serves more bytes than encoding it (a 1.29 Mb/s lecture copied: 1.8x).
DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung("1080p", 1080, 24, 5000, passthrough_kbps=600),
    Rung("720p", 720, 24, 2800, passthrough_kbps=400),
    Rung("480p", 480, 23, 1400, passthrough_kbps=220),
    Rung("360p", 360, 23, 800, passthrough_kbps=140),
)


def parse_ladder(text: str) -> tuple[Rung, ...]:
    """`name:height:crf:maxrate_kbps[:passthrough_kbps]`, comma-separated, e.g.
    "1080p:1080:23:5000:1500,720p:720:23:2800". Raises ValueError saying what is wrong."""
    rungs = []
    for item in text.split(","):
        fields = item.strip().split(":")
        if len(fields) not in (4, 5):
            raise ValueError(
                f"ladder rung {item.strip()!r} must be name:height:crf:maxrate_kbps"
                "[:passthrough_kbps]"
            )
        try:
            numbers = [int(fields[1]), float(fields[2]), *(int(f) for f in fields[3:])]
        except ValueError:
            raise ValueError(f"ladder rung {item.strip()!r} has a non-numeric field") from None
        rungs.append(Rung(fields[0], numbers[0], numbers[1], *numbers[2:]))
    validate_ladder(rungs)
    return tuple(rungs)


def format_ladder(ladder: Sequence[Rung]) -> str:
    """The inverse of parse_ladder (for logs and docs)."""
    return ",".join(
        f"{r.name}:{r.height}:{r.crf:g}:{r.maxrate_kbps}"
        + (f":{r.passthrough_kbps}" if r.passthrough_kbps else "")
        for r in ladder
    )


def validate_ladder(ladder: Sequence[Rung]) -> None:
    if not ladder:
        raise ValueError("the ladder needs at least one rung")
    if len({rung.name for rung in ladder}) != len(ladder):
        raise ValueError("rung names must be unique")
    if len({rung.height for rung in ladder}) != len(ladder):
        raise ValueError("rung heights must be unique")


@dataclass(frozen=True)
class Rendition:
    """A rung fitted to one source: the exact output size (both sides even) and the rate
    control, its cap lowered to the source's own rate when the source carries less."""

    name: str
    width: int
    height: int
    crf: float
    maxrate_kbps: int
    passthrough_kbps: int = 0
    # Set when the cap was lowered to the source's rate (the rung's own cap, for the record).
    capped_from_kbps: int = 0

    @property
    def bufsize_kbps(self) -> int:
        return round(self.maxrate_kbps * BUFSIZE_FACTOR)

    @property
    def playlist(self) -> str:
        return f"{self.name}/index.m3u8"


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def plan_ladder(
    width: int,
    height: int,
    ladder: Sequence[Rung] = DEFAULT_LADDER,
    source_video_kbps: int | None = None,
    source_cap_factor: float = 1.0,
    passthrough_factor: float = 1.0,
) -> list[Rendition]:
    """Renditions for a source displayed at width x height, largest first.

    Every rung whose short side fits the source's short side is kept; a source smaller than
    the smallest rung gets one rendition at its own (even) size with that rung's settings.
    With `source_video_kbps` known, no rendition's cap exceeds it scaled by the rendition's
    short side over the source's (nor goes below MIN_CAP_KBPS scaled the same way): a
    rendition never gets more bits than the source has to give for that many pixels, and
    lowered caps step down with the rungs. `source_cap_factor` lets bursty content (a screen
    recording: still for seconds, then a whole new screen) peak above its own average rate;
    `passthrough_factor` scales every rung's passthrough threshold (content whose re-encode
    is far smaller than its upload).
    """
    validate_ladder(ladder)
    short, long = min(width, height), max(width, height)
    rungs = sorted(ladder, key=lambda rung: rung.height, reverse=True)
    fitting = [rung for rung in rungs if rung.height <= short]
    if not fitting:
        smallest = rungs[-1]
        fitting = [Rung(f"{_even(short)}p", _even(short), smallest.crf, smallest.maxrate_kbps)]
    renditions = []
    for rung in fitting:
        new_short = _even(rung.height)
        new_long = _even(round(long * rung.height / short))
        w, h = (new_long, new_short) if width >= height else (new_short, new_long)
        cap, capped_from = rung.maxrate_kbps, 0
        if source_video_kbps and source_video_kbps > 0:
            share = min(1.0, new_short / short)
            source_cap = round(max(MIN_CAP_KBPS, source_video_kbps * source_cap_factor) * share)
            if source_cap < cap:
                cap, capped_from = source_cap, rung.maxrate_kbps
        passthrough = round(rung.passthrough_kbps * passthrough_factor)
        renditions.append(Rendition(rung.name, w, h, rung.crf, cap, passthrough, capped_from))
    return renditions
