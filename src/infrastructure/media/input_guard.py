"""What ffmpeg/ffprobe may open when they read an upload: local files and real video containers.

Uploads are hostile. Without these options ffprobe on an HLS playlist or a concat script
renamed `.mp4` opens every file the text names (another tenant's video, say) during the
probe itself, before any check of the probed format could refuse it.
"""

from __future__ import annotations

import ffmpeg

# Demuxer names exactly as ffmpeg 5.1 spells them (`ffmpeg -demuxers`). No playlists (hls,
# concat, dash), no image sequences (image2, *_pipe), no text (tty), no raw streams.
ACCEPTED_DEMUXERS: tuple[str, ...] = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "mpegts",
    "mpeg",
    "flv",
)
FORMAT_WHITELIST = ",".join(ACCEPTED_DEMUXERS)
PROTOCOL_WHITELIST = "file"
# Every ffmpeg the worker runs: errors only on stderr, and never waiting for a keypress.
QUIET_ARGS = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")


def guarded_input_options(demuxer: str | None = None) -> dict[str, str]:
    """Input options for every ffmpeg/ffprobe call on an upload; `demuxer` forces the format."""
    options = {"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": FORMAT_WHITELIST}
    if demuxer:
        options["f"] = demuxer
    return options


def guarded_input_args(demuxer: str | None = None) -> list[str]:
    """The same options as an argument list, for commands built by hand (ffprobe)."""
    args: list[str] = []
    for key, value in guarded_input_options(demuxer).items():
        args += [f"-{key}", value]
    return args


def file_url(relative_path: str) -> str:
    """Name a file so ffmpeg never reads a protocol or an option out of its name."""
    return f"file:{relative_path}"


def demuxer_for(format_name: str) -> str | None:
    """The `-f` value for a probed format_name, or None when it is not an accepted container."""
    if format_name not in ACCEPTED_DEMUXERS:
        return None
    return format_name.split(",")[0]


def upload_stretch(
    source: str, demuxer: str, video_index: int, start: float, seconds: float, **options
):
    """The upload's video stream (ffmpeg-python) from `start` for `seconds` only: an input
    seek, so ffmpeg decodes from the keyframe before `start` and stops after the stretch,
    never reading the rest of the file; the input stays guarded. `options` are further
    input options (e.g. `threads`)."""
    upload = ffmpeg.input(
        file_url(source),
        ss=f"{start:.3f}",
        t=f"{seconds:.3f}",
        **options,
        **guarded_input_options(demuxer),
    )
    return upload[str(video_index)]
