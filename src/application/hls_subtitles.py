"""The master playlist's subtitle renditions: which tracks it lists, and the text that lists them.

Every READY track is a `#EXT-X-MEDIA:TYPE=SUBTITLES` rendition in the group `subs`, and every
video variant names that group; an uploaded track replaces the automatic one of its language.
Rewriting is idempotent: the previous subtitle lines are dropped first, so the master always
says exactly what the tracks say now.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from src.application.domain import CaptionKind, CaptionStatus
from src.application.ports.captions import CaptionTrackRecord

GROUP = "subs"
_SUBTITLE_MEDIA = "#EXT-X-MEDIA:TYPE=SUBTITLES"
_STREAM_INF = "#EXT-X-STREAM-INF:"
_GROUP_ATTRIBUTE = re.compile(r',SUBTITLES="[^"]*"')
# Quoted-string attributes may not hold a double quote or a line break (RFC 8216, 4.2).
_UNQUOTABLE = re.compile(r'["\r\n]')


@dataclass(frozen=True)
class SubtitleRendition:
    language: str
    name: str
    uri: str  # relative to the master playlist


def listed_tracks(tracks: list[CaptionTrackRecord]) -> list[CaptionTrackRecord]:
    """The READY tracks a master lists: one per language, an uploaded one before the
    automatic one, the newest upload of a language (ordered by language, then id)."""
    chosen: dict[str, CaptionTrackRecord] = {}
    for track in sorted(tracks, key=lambda t: t.id):
        if track.status != CaptionStatus.READY or not track.playlist_key:
            continue
        current = chosen.get(track.language)
        if current is None or not (
            current.kind == CaptionKind.UPLOADED and track.kind == CaptionKind.AUTO
        ):
            chosen[track.language] = track
    return [chosen[lang] for lang in sorted(chosen)]


def renditions_for(master_key: str, tracks: list[CaptionTrackRecord]) -> list[SubtitleRendition]:
    folder = posixpath.dirname(master_key)
    return [
        SubtitleRendition(
            language=t.language,
            name=track_label(t),
            uri=posixpath.relpath(t.playlist_key, folder),
        )
        for t in listed_tracks(tracks)
    ]


def track_label(track: CaptionTrackRecord) -> str:
    if track.label:
        return track.label
    suffix = " (auto)" if track.kind == CaptionKind.AUTO else ""
    return f"{track.language or 'captions'}{suffix}"


def _quoted(value: str) -> str:
    return _UNQUOTABLE.sub("'", value)


def with_subtitles(master: str, renditions: list[SubtitleRendition]) -> str:
    """`master` listing exactly `renditions` as its subtitle group (none: no group)."""
    lines = [
        _GROUP_ATTRIBUTE.sub("", line) if line.startswith(_STREAM_INF) else line
        for line in master.splitlines()
        if not line.startswith(_SUBTITLE_MEDIA)
    ]
    media = [
        f'{_SUBTITLE_MEDIA},GROUP-ID="{GROUP}",LANGUAGE="{_quoted(r.language)}",'
        f'NAME="{_quoted(r.name)}",DEFAULT=NO,AUTOSELECT=YES,URI="{_quoted(r.uri)}"'
        for r in renditions
    ]
    out: list[str] = []
    inserted = False
    for line in lines:
        if line.startswith(_STREAM_INF):
            if not inserted:
                out += media
                inserted = True
            if renditions:
                line = f'{line},SUBTITLES="{GROUP}"'
        out.append(line)
    return "\n".join(out) + "\n"
