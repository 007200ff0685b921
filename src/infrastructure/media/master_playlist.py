"""Read and complete the HLS master playlist: every variant needs BANDWIDTH, RESOLUTION, CODECS.

ffmpeg 5.1 writes CODECS only when it could read the codec's parameters in time; players
(Safari, ExoPlayer) pick variants by these attributes, so missing ones are filled in from
what the segments really hold and wrong ones are corrected.
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
# AAC profiles -> RFC 6381 object type (mp4a.40.N).
_AAC_OBJECT_TYPES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29}


@dataclass
class Variant:
    uri: str
    attributes: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        attrs = ",".join(f"{key}={value}" for key, value in self.attributes.items())
        return f"{_STREAM_INF}{attrs}\n{self.uri}"


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


def write_variants(path: Path, header: list[str], variants: list[Variant]) -> None:
    body = "\n\n".join(variant.render() for variant in variants)
    path.write_text("\n".join(header) + "\n" + body + "\n")


def complete_master(path: Path, expected: dict[str, tuple[str, str]]) -> list[Variant]:
    """Make every variant say RESOLUTION and CODECS as `expected` (uri -> (WxH, codecs)).

    Rewrites the file only when something was missing or wrong; returns the variants.
    Raises ValueError when the playlist does not list exactly the expected variants.
    """
    header, variants = read_variants(path)
    uris = [variant.uri for variant in variants]
    if sorted(uris) != sorted(expected):
        raise ValueError(f"master playlist lists {uris}, expected {sorted(expected)}")
    changed = False
    for variant in variants:
        resolution, codecs = expected[variant.uri]
        wanted = {"RESOLUTION": resolution, "CODECS": f'"{codecs}"'}
        for key, value in wanted.items():
            if variant.attributes.get(key) != value:
                variant.attributes[key] = value
                changed = True
        if not variant.attributes.get("BANDWIDTH", "").isdigit():
            raise ValueError(f"variant {variant.uri} has no BANDWIDTH")
    if changed:
        write_variants(path, header, variants)
    return variants
