"""The HLS master playlist: read ffmpeg's draft, measure each variant, write the served one.

ffmpeg 5.1 writes CODECS only when it could read the codec's parameters in time, lists the
shared audio as a variant of its own and states BANDWIDTH from the rate caps, not from what
was written. Players (Safari, ExoPlayer, hls.js) pick variants by these attributes, so the
served master is written from what the segments really hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_STREAM_INF = "#EXT-X-STREAM-INF:"
# KEY=value or KEY="value, with commas"
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
# H.264 profile names as ffprobe prints them -> (profile_idc, constraint_set flags byte).
_AVC_PROFILES: dict[str, tuple[int, int]] = {
    "Constrained Baseline": (66, 0x40),
    "Baseline": (66, 0x00),
    "Main": (77, 0x00),
    "Extended": (88, 0x00),
    "High": (100, 0x00),
    "High 10": (110, 0x00),
    "High 4:2:2": (122, 0x00),
    "High 4:4:4 Predictive": (244, 0x00),
}
# A variant is listed only if its measured BANDWIDTH is at least this fraction below the
# variant above it: a player stepping down (or asked for the lowest) must really save bits.
MIN_BANDWIDTH_STEP = 0.15
# AAC profiles -> RFC 6381 object type (mp4a.40.N).
_AAC_OBJECT_TYPES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29}


@dataclass
class Variant:
    uri: str
    attributes: dict[str, str] = field(default_factory=dict)


def avc_codec(profile: str, level: int) -> str:
    """RFC 6381 string for H.264, e.g. ("High", 31) -> "avc1.64001f"."""
    if profile not in _AVC_PROFILES:
        raise ValueError(f"unknown H.264 profile {profile!r}")
    profile_idc, constraints = _AVC_PROFILES[profile]
    return f"avc1.{profile_idc:02x}{constraints:02x}{level:02x}"


def aac_codec(profile: str) -> str:
    return f"mp4a.40.{_AAC_OBJECT_TYPES.get(profile, 2)}"


def read_variants(path: Path) -> tuple[list[str], list[Variant]]:
    """The header lines (before the first variant) and the variants of a master playlist."""
    header: list[str] = []
    variants: list[Variant] = []
    pending: dict[str, str] | None = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith(_STREAM_INF):
            pending = {k: v for k, v in _ATTRIBUTE.findall(line[len(_STREAM_INF) :])}
        elif pending is not None and line and not line.startswith("#"):
            variants.append(Variant(line, pending))
            pending = None
        elif not variants and pending is None and line:
            header.append(line)
    return header, variants


def media_bandwidth(playlist: Path) -> tuple[int, int]:
    """(peak, average) bits per second of a media playlist's segments as stored.

    The peak is the HLS definition: the highest rate of any run of consecutive segments
    lasting 0.5 to 1.5 times the target duration (so a 40 ms last segment holding one
    keyframe does not count as a burst); the average is all bytes over all seconds.
    """
    segments: list[tuple[float, int]] = []
    target = 0.0
    duration: float | None = None
    for line in playlist.read_text().splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((duration, (playlist.parent / line).stat().st_size * 8))
            duration = None
    total_seconds = sum(d for d, _ in segments)
    if not segments or total_seconds <= 0:
        raise ValueError(f"{playlist} lists no segments")
    average = sum(bits for _, bits in segments) / total_seconds
    peak = 0.0
    for i in range(len(segments)):
        seconds = bits = 0.0
        for d, b in segments[i:]:
            seconds, bits = seconds + d, bits + b
            if seconds > 1.5 * target:
                break
            if seconds >= 0.5 * target:
                peak = max(peak, bits / seconds)
    return round(max(peak, average)), round(average)


@dataclass(frozen=True)
class MasterVariant:
    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: float


def distinct_variants(
    variants: list[MasterVariant], min_step: float = MIN_BANDWIDTH_STEP
) -> tuple[list[MasterVariant], list[tuple[MasterVariant, str]]]:
    """(kept, dropped with the reason) of variants listed largest first: the first is always
    kept, every other only if its BANDWIDTH is at least `min_step` below the last kept one's,
    so BANDWIDTH strictly decreases down the master."""
    kept: list[MasterVariant] = []
    dropped: list[tuple[MasterVariant, str]] = []
    for variant in variants:
        above = kept[-1] if kept else None
        if above is None or variant.bandwidth <= above.bandwidth * (1 - min_step):
            kept.append(variant)
            continue
        dropped.append(
            (
                variant,
                f"its measured BANDWIDTH {variant.bandwidth} b/s is not {min_step:.0%} below "
                f"the {above.width}x{above.height} variant's {above.bandwidth} b/s",
            )
        )
    return kept, dropped


def write_master(
    path: Path,
    variants: list[MasterVariant],
    audio_uri: str | None = None,
    audio_group: str = "audio",
) -> None:
    """The served master playlist: the shared audio rendition (when there is one) and every
    video variant with measured BANDWIDTH / AVERAGE-BANDWIDTH (audio included)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    group = ""
    if audio_uri:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{audio_group}",NAME="{audio_group}",'
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="{audio_uri}"'
        )
        group = f',AUDIO="{audio_group}"'
    for v in variants:
        lines += [
            "",
            f"{_STREAM_INF}BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f'RESOLUTION={v.width}x{v.height},FRAME-RATE={v.frame_rate:.3f},CODECS="{v.codecs}"'
            f"{group}",
            v.uri,
        ]
    path.write_text("\n".join(lines) + "\n")
