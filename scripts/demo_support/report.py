"""The closing report: the table of videos (from each one's final GET), the check that each
master playlist decodes from its URL (the API serves it, segments included, under /media/),
and the playback hints."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from .api_client import ApiClient, ApiError
from .failures import DemoFailed

# Decoding a few seconds of every rendition takes well under this on a busy machine.
VERIFY_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class VideoRow:
    video_id: int
    title: str
    status: str
    error_code: str
    error_message: str
    renditions: list[str]
    duration_seconds: float | None
    wall_seconds: float | None
    master: str | None  # the master playlist's URL (assets.master_playlist_url)
    stored_master: Path | None = None  # the same file in the demo's storage folder


def parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def row_from(body: dict[str, Any], media_root: Path) -> VideoRow:
    """A table row from `GET /api/v1/videos/{id}`: wall time from the processing timestamps
    (or the worker's total timing)."""
    wall = None
    started = parse_time(body.get("processing_started_at") or "")
    completed = parse_time(body.get("processing_completed_at") or "")
    if started and completed:
        wall = (completed - started).total_seconds()
    elif (body.get("timings_ms") or {}).get("total"):
        wall = body["timings_ms"]["total"] / 1000
    error = body.get("error") or {}
    return VideoRow(
        video_id=body["id"],
        title=body["title"],
        status=body["status"],
        error_code=error.get("code", ""),
        error_message=error.get("message", ""),
        renditions=[str(r.get("name", "?")) for r in body.get("renditions") or []],
        duration_seconds=body.get("duration_seconds"),
        wall_seconds=wall,
        master=(body.get("assets") or {}).get("master_playlist_url"),
        stored_master=stored_master(media_root, body["id"]),
    )


def report(out: TextIO, api: ApiClient, bodies: list[dict[str, Any]], media_root: Path) -> int:
    """Print the table; check every READY video's master playlist from its URL; print how to
    play one. The number of READY videos; DemoFailed naming every video that is not."""
    rows = [row_from(body, media_root) for body in bodies]
    out.write("\n" + format_table(rows) + "\n\n")
    problems = [
        f"video {r.video_id} is {r.status}"
        + (f" ({r.error_code}: {r.error_message})" if r.error_code else "")
        for r in rows
        if r.status != "READY"
    ]
    for row in rows:
        if row.status == "READY":
            error = check_master(api, row.master) if row.master else "it has no assets URL"
            if error:
                problems.append(f"video {row.video_id}: {error}")
    if problems:
        raise DemoFailed("; ".join(problems))
    ready = len(rows)
    out.write(
        f"Checked: all {ready} master playlists fetched through their assets URLs "
        "decode with ffmpeg (every rendition).\n\n"
    )
    out.write(playback_hints(rows) + "\n\n")
    return ready


def check_master(api: ApiClient, url: str) -> str | None:
    """The master playlist answers at its URL, and ffmpeg decodes every rendition from there
    (segments through the API's /media/ route, with HTTP range requests)."""
    try:
        answer = api.fetch(url)
    except (ApiError, OSError) as exc:
        return f"GET {url} failed: {exc}"
    text = answer.raw.decode(errors="replace")
    if "#EXT-X-STREAM-INF" not in text:
        return f"{url} is not an HLS master playlist ({answer.headers.get('content-type')})"
    return verify_master(url)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def format_table(rows: list[VideoRow]) -> str:
    header = ("ID", "TITLE", "STATUS", "RENDITIONS", "DURATION", "WALL TIME", "MASTER PLAYLIST")
    body = [
        (
            str(r.video_id),
            r.title,
            f"{r.status} ({r.error_code})" if r.error_code else r.status,
            "/".join(r.renditions) or "-",
            _seconds(r.duration_seconds),
            _seconds(r.wall_seconds),
            str(r.master) if r.master else "-",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in body)])


def verify_master(url: str) -> str | None:
    """None when every stream of every rendition decodes from `url`; otherwise what went
    wrong. Only HTTP is allowed: a playlist cannot make ffmpeg read local files."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error"]
    cmd += ["-protocol_whitelist", "http,tcp", "-i", url, "-map", "0", "-f", "null", "-"]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=VERIFY_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return f"decoding {url} took over {VERIFY_TIMEOUT_SECONDS} s"
    if done.returncode != 0 or done.stderr.strip():
        return f"ffmpeg could not decode it: {done.stderr.strip()[-1000:] or done.returncode}"
    return None


def stored_master(media_root: Path, video_id: int) -> Path | None:
    """The published master playlist of a video in the demo's storage folder. Neither its URL
    (a playback id) nor its storage key (an opaque media/{video}/{claim}/ folder) names the
    video, so the key is read from the row in the demo's database (var/db.sqlite3, beside
    the storage folder), read-only."""
    database = media_root.parent / "db.sqlite3"
    if not database.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT hls_key FROM video_video WHERE id = ?", (video_id,)).fetchone()
    except sqlite3.Error:
        return None
    path = media_root / row[0] if row and row[0] else None
    return path if path is not None and path.is_file() else None


def playback_hints(rows: list[VideoRow]) -> str:
    ready = [r for r in rows if r.status == "READY" and r.master]
    if not ready:
        return ""
    first = ready[0]
    lines = [
        "Play a result (any HLS player; the API serves /media/ while it runs, and the URL's",
        "token opens this one video for VIDEO_PLAYBACK_TOKEN_TTL_SECONDS):",
        f"  ffplay '{first.master}'",
    ]
    if first.stored_master is not None:
        lines += [
            "After the demo (the API is stopped), the same files are on disk:",
            f"  ffplay {first.stored_master}",
        ]
    return "\n".join(lines)
