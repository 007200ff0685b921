"""Rewriting HLS playlists: every URI a player will fetch next gets what that request needs.

A URI is either a line of its own (variant playlists, segments) or a `URI="…"` attribute
(`#EXT-X-MEDIA` audio and subtitle renditions, `#EXT-X-MAP`, `#EXT-X-I-FRAME-STREAM-INF`, …).
The caller decides what each becomes (a relative URI with `?token=`, or a CDN signed URL).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def resolve(playlist_path: str, uri: str) -> str | None:
    """The output-relative path `uri` names from the playlist at `playlist_path`; None for
    an absolute URL or anything that leaves the output folder."""
    if _SCHEME.match(uri) or uri.startswith("/") or "?" in uri or "#" in uri:
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(playlist_path), uri))
    if joined.startswith("../") or joined in {".", ".."}:
        return None
    return joined


def rewrite(text: str, playlist_path: str, uri_for: Callable[[str, str], str]) -> str:
    """`text` with every URI replaced by `uri_for(uri as written, output-relative path)`;
    URIs that `resolve` refuses are left as they are."""

    def replace(uri: str) -> str:
        path = resolve(playlist_path, uri)
        return uri if path is None else uri_for(uri, path)

    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(replace(stripped))
        elif stripped.startswith("#") and 'URI="' in stripped:
            lines.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{replace(m.group(1))}"', stripped))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"
