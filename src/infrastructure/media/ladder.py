"""The HLS bitrate ladder and how a source's size picks its renditions (never upscaling)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Peak video rate allowed above the target, and the VBV buffer, as multiples of the target:
# caps bursts so a player can trust BANDWIDTH without starving quality on hard scenes.
MAXRATE_FACTOR = 1.1
BUFSIZE_FACTOR = 2.0
# Rendition names become folder names and var_stream_map entries.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: `height` is the short side (so portrait video works too)."""

    name: str
    height: int
    video_kbps: int
    audio_kbps: int

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"rung name {self.name!r} must match {_NAME.pattern}")
        if self.height < 2 or self.video_kbps <= 0 or self.audio_kbps <= 0:
            raise ValueError(f"rung {self.name!r} needs a height >= 2 and positive bitrates")


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung("1080p", 1080, 5000, 128),
    Rung("720p", 720, 2800, 128),
    Rung("480p", 480, 1400, 96),
    Rung("360p", 360, 800, 96),
)


@dataclass(frozen=True)
class Rendition:
    """A rung fitted to one source: the exact output size, both sides even."""

    name: str
    width: int
    height: int
    video_kbps: int
    audio_kbps: int

    @property
    def maxrate_kbps(self) -> int:
        return round(self.video_kbps * MAXRATE_FACTOR)

    @property
    def bufsize_kbps(self) -> int:
        return round(self.video_kbps * BUFSIZE_FACTOR)

    @property
    def playlist(self) -> str:
        return f"{self.name}/index.m3u8"


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def plan_ladder(
    width: int, height: int, ladder: Sequence[Rung] = DEFAULT_LADDER
) -> list[Rendition]:
    """Renditions for a source displayed at width x height, largest first.

    Every rung whose short side fits the source's short side is kept; a source smaller than
    the smallest rung gets one rendition at its own (even) size with that rung's bitrates.
    """
    if not ladder:
        raise ValueError("the ladder needs at least one rung")
    if len({rung.name for rung in ladder}) != len(ladder):
        raise ValueError("rung names must be unique")
    short, long = min(width, height), max(width, height)
    rungs = sorted(ladder, key=lambda rung: rung.height, reverse=True)
    fitting = [rung for rung in rungs if rung.height <= short]
    if not fitting:
        smallest = rungs[-1]
        own = Rung(f"{_even(short)}p", _even(short), smallest.video_kbps, smallest.audio_kbps)
        fitting = [own]
    renditions = []
    for rung in fitting:
        new_short = _even(rung.height)
        new_long = _even(round(long * rung.height / short))
        w, h = (new_long, new_short) if width >= height else (new_short, new_long)
        renditions.append(Rendition(rung.name, w, h, rung.video_kbps, rung.audio_kbps))
    return renditions
