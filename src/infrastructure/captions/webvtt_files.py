"""Caption files with webvtt-py: uploaded SRT or WebVTT read into cues (with the line of the
first fault named), cues written as one WebVTT file, and cues cut into an HLS subtitle
rendition (WebVTT segments with X-TIMESTAMP-MAP and their media playlist)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import webvtt
from webvtt import Caption
from webvtt.errors import MalformedCaptionError, MalformedFileError
from webvtt.segmenter import write_segments
from webvtt.srt import SRTCueBlock
from webvtt.vtt import WebVTTCueBlock

from src.application.domain import Cue
from src.application.ports.captions import CaptionFileInvalid, SubtitleFiles

# The rendition's file names, relative to its folder.
WHOLE_FILE = "captions.vtt"
PLAYLIST = "index.m3u8"
_SEGMENT = "fileSequence{}.webvtt"  # what webvtt-py's segmenter names them
# 90 kHz: MPEG-TS's clock, the unit of X-TIMESTAMP-MAP's MPEGTS.
MPEGTS_HZ = 90000


def _seconds(ts: str) -> float:
    """'hh:mm:ss.mmm' as webvtt-py keeps cue times -> seconds."""
    hours, minutes, rest = ts.split(":") if ts.count(":") == 2 else ("0", *ts.split(":"))
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def _timestamp(seconds: float) -> str:
    ms = round(max(seconds, 0.0) * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based number of their first line."""
    out: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            out.append((start, current))
            current = []
    if current:
        out.append((start, current))
    return out


def detect_format(text: str) -> str:
    return "vtt" if text.lstrip("\ufeff").startswith("WEBVTT") else "srt"


def parse_captions(data: bytes) -> list[Cue]:
    """The cues of an SRT or WebVTT upload, in order; CaptionFileInvalid naming the line of
    the first fault: not UTF-8, a cue block the parser cannot read, a cue that ends before it
    starts, or one that starts before the previous one ended."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CaptionFileInvalid(
            f"the file is not UTF-8 text (byte {exc.start} cannot be decoded)", line
        ) from None
    if "\x00" in text:
        raise CaptionFileInvalid("the file holds NUL characters: it is not a caption file")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kind = detect_format(text)
    block_ok = WebVTTCueBlock.is_valid if kind == "vtt" else SRTCueBlock.is_valid
    timed: list[int] = []  # the first line of each cue block
    for start, block in _blocks(lines):
        if not any("-->" in line for line in block):
            if kind == "srt":
                raise CaptionFileInvalid("not an SRT cue (index, timing line, text)", start)
            continue  # WebVTT's header, NOTE and STYLE blocks
        if not block_ok([line.rstrip() for line in block]):
            at = start + next(i for i, line in enumerate(block) if "-->" in line)
            raise CaptionFileInvalid(
                f"this cue's timing line cannot be read: {lines[at - 1][:80]!r}", at
            )
        timed.append(start)
    try:
        captions = webvtt.from_buffer(io.StringIO("\n".join(lines)), format=kind).captions
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise CaptionFileInvalid(f"not a {kind.upper()} file: {exc}", 1) from None
    if not captions:
        raise CaptionFileInvalid(f"the {kind.upper()} file holds no cues", 1)
    cues: list[Cue] = []
    for line, caption in zip(timed, captions, strict=False):
        start, end = _seconds(caption.start), _seconds(caption.end)
        if end <= start:
            raise CaptionFileInvalid(
                f"the cue ends ({caption.end}) before it starts ({caption.start})", line
            )
        if cues and start < cues[-1].end:
            raise CaptionFileInvalid(
                f"the cue starts ({caption.start}) before the previous one ends "
                f"({_timestamp(cues[-1].end)}): cues must not overlap or go back in time",
                line,
            )
        text_value = "\n".join(line.strip() for line in caption.lines if line.strip())
        cues.append(Cue(start, end, text_value))
    return cues


def _captions(cues: list[Cue]) -> list[Caption]:
    return [Caption(_timestamp(c.start), _timestamp(c.end), c.text) for c in cues]


def render_vtt(cues: list[Cue]) -> str:
    """The cues as one WebVTT file."""
    return webvtt.WebVTT(captions=_captions(cues)).content


def write_rendition(
    cues: list[Cue], folder: Path, *, duration: float, segment_seconds: int, mpegts: int
) -> None:
    """The whole WebVTT file and the HLS subtitle rendition of `cues` into `folder`.

    Segments are written by webvtt-py (X-TIMESTAMP-MAP set to the video's first presentation
    time, `mpegts`); the playlist is written here so it covers the whole video with true
    segment durations (webvtt-py's states 30 s whatever the length).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / WHOLE_FILE).write_text(render_vtt(cues), encoding="utf-8")
    total = max(duration, cues[-1].end if cues else 0.0, 0.001)
    count = max(1, math.ceil(total / segment_seconds))
    # Each cue goes in every segment its time overlaps (webvtt-py's slice_segments does the
    # same but indexes past its list when a cue ends on a segment boundary).
    segments = [
        _captions(
            [c for c in cues if c.start < (i + 1) * segment_seconds and c.end > i * segment_seconds]
        )
        for i in range(count)
    ]
    write_segments(folder, segments, mpegts)
    lines = [
        "#EXTM3U",
        f"#EXT-X-TARGETDURATION:{segment_seconds}",
        "#EXT-X-VERSION:3",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for index in range(len(segments)):
        length = min(segment_seconds, total - index * segment_seconds)
        lines += [f"#EXTINF:{max(length, 0.001):.3f},", _SEGMENT.format(index)]
    lines.append("#EXT-X-ENDLIST")
    (folder / PLAYLIST).write_text("\n".join(lines) + "\n", encoding="utf-8")


class WebvttSubtitleFiles(SubtitleFiles):
    """The SubtitleFiles port on webvtt-py; segments last `segment_seconds` (the video's)."""

    whole_file = WHOLE_FILE
    playlist = PLAYLIST

    def __init__(self, segment_seconds: int = 6) -> None:
        self.segment_seconds = segment_seconds

    def parse(self, data: bytes) -> list[Cue]:
        return parse_captions(data)

    def write_rendition(
        self, cues: list[Cue], folder: Path, *, duration: float, start_seconds: float
    ) -> None:
        write_rendition(
            cues,
            folder,
            duration=duration,
            segment_seconds=self.segment_seconds,
            mpegts=round(start_seconds * MPEGTS_HZ),
        )
