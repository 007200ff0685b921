"""ffmpeg command lines: the one-pass HLS ladder and the thumbnail, built with ffmpeg-python.

Paths are relative to the job's work folder, which is the subprocess's cwd.
"""

from __future__ import annotations

from collections.abc import Sequence

import ffmpeg

from src.infrastructure.media.input_guard import file_url, guarded_input_options
from src.infrastructure.media.ladder import Rendition

# Players and phones above 60 fps gain nothing from a lecture; a 120 fps phone clip is halved.
MAX_FPS = 60.0
# Thumbnails are shown as cards in lists; wider is only bytes.
THUMBNAIL_MAX_WIDTH = 640
# Split outputs run at different speeds; the default queue (128 packets) can overflow.
MAX_MUXING_QUEUE = 4096
OUTPUT_DIR = "out"
SEGMENT_PATTERN = "seg_%05d.ts"
MASTER_PLAYLIST = "master.m3u8"
THUMBNAIL = "thumbnail.jpg"
_QUIET = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")


def ladder_command(
    *,
    ffmpeg_bin: str,
    source: str,
    demuxer: str,
    video_index: int,
    audio_index: int | None,
    fps: float,
    renditions: Sequence[Rendition],
    segment_seconds: int,
    preset: str,
    thumbnail: tuple[float, int, int] | None = None,
) -> list[str]:
    """One decode, `split` into every rendition, libx264 + AAC, muxed as HLS with a master.

    With `thumbnail` (at seconds, width, height) one more branch of the same decode writes
    the JPEG of the first frame at or after that instant: no second pass over the upload.
    """
    upload = ffmpeg.input(file_url(source), **guarded_input_options(demuxer))
    picture = upload[str(video_index)]
    if fps > MAX_FPS:
        picture = picture.filter("fps", MAX_FPS)
        fps = MAX_FPS
    # Convert once before the split: every rendition is 8-bit 4:2:0 (High profile players).
    outputs = len(renditions) + (1 if thumbnail else 0)
    branches = picture.filter("format", "yuv420p").filter_multi_output("split", outputs)
    streams = []
    options: dict[str, str | int] = {}
    var_stream_map = []
    for i, rendition in enumerate(renditions):
        scaled = branches.stream(i).filter("scale", rendition.width, rendition.height)
        streams.append(scaled.filter("setsar", 1))
        options[f"b:v:{i}"] = f"{rendition.video_kbps}k"
        options[f"maxrate:v:{i}"] = f"{rendition.maxrate_kbps}k"
        options[f"bufsize:v:{i}"] = f"{rendition.bufsize_kbps}k"
        entry = f"v:{i}"
        if audio_index is not None:
            # The same source audio is mapped (and encoded) once per variant.
            streams.append(upload[str(audio_index)])
            options[f"b:a:{i}"] = f"{rendition.audio_kbps}k"
            entry += f",a:{i}"
        var_stream_map.append(f"{entry},name:{rendition.name}")
    if audio_index is not None:
        options.update({"c:a": "aac", "ac": 2, "ar": 48000})
    # Fixed GOP of one segment, no scene-cut keyframes, and a forced keyframe at every
    # segment boundary (by time, so variable frame rate sources stay aligned too): every
    # rendition cuts its segments at the same instants, which players need to switch.
    gop = max(1, round(segment_seconds * fps))
    output = ffmpeg.output(
        *streams,
        f"{OUTPUT_DIR}/%v/index.m3u8",
        **options,
        vcodec="libx264",
        preset=preset,
        **{"profile:v": "high", "g": gop, "keyint_min": gop, "sc_threshold": 0},
        force_key_frames=f"expr:gte(t,n_forced*{segment_seconds})",
        map_metadata=-1,
        max_muxing_queue_size=MAX_MUXING_QUEUE,
        # Pass frames through with their own timestamps: never duplicate frames to fill a
        # gap, so a few frames that declare hours cost a few frames of work, not hours.
        fps_mode="vfr",
        f="hls",
        hls_time=segment_seconds,
        hls_playlist_type="vod",
        hls_flags="independent_segments",
        hls_segment_type="mpegts",
        hls_segment_filename=f"{OUTPUT_DIR}/%v/{SEGMENT_PATTERN}",
        master_pl_name=MASTER_PLAYLIST,
        var_stream_map=" ".join(var_stream_map),
    )
    if thumbnail:
        at_seconds, width, height = thumbnail
        frame = (
            branches.stream(len(renditions))
            .filter("select", f"gte(t,{at_seconds:.3f})")
            .filter("scale", width, height)
            .filter("setsar", 1)
        )
        output = ffmpeg.merge_outputs(output, _thumbnail_output(frame))
    return (
        output.global_args(*_QUIET, "-progress", "pipe:1")
        .overwrite_output()
        .compile(cmd=ffmpeg_bin)
    )


def _thumbnail_output(frame):
    return ffmpeg.output(
        frame,
        f"{OUTPUT_DIR}/{THUMBNAIL}",
        vframes=1,
        **{"q:v": 3},
        update=1,
        map_metadata=-1,
        f="image2",
    )


def thumbnail_size(display_width: int, display_height: int) -> tuple[int, int]:
    """At most THUMBNAIL_MAX_WIDTH wide, the display aspect kept, both sides even."""
    width = min(THUMBNAIL_MAX_WIDTH, display_width)
    height = round(display_height * width / display_width)
    return max(2, width // 2 * 2), max(2, height // 2 * 2)


def thumbnail_command(
    *,
    ffmpeg_bin: str,
    source: str,
    demuxer: str,
    video_index: int,
    at_seconds: float,
    width: int,
    height: int,
) -> list[str]:
    """One JPEG frame at `at_seconds` (input seek: jumps to the keyframe before, then decodes)."""
    upload = ffmpeg.input(
        file_url(source), ss=f"{at_seconds:.3f}", **guarded_input_options(demuxer)
    )
    frame = upload[str(video_index)].filter("scale", width, height).filter("setsar", 1)
    return _thumbnail_output(frame).global_args(*_QUIET).overwrite_output().compile(cmd=ffmpeg_bin)
