"""ffmpeg command lines: the one-pass HLS ladder and the thumbnail, built with ffmpeg-python.

Paths are relative to the job's work folder, which is the subprocess's cwd.
"""

from __future__ import annotations

from collections.abc import Sequence

import ffmpeg

from src.infrastructure.media.input_guard import QUIET_ARGS, file_url, guarded_input_options
from src.infrastructure.media.ladder import AUDIO_KBPS, AUDIO_NAME, Rendition

# Players and phones above 60 fps gain nothing from a lecture; a 120 fps phone clip is halved.
MAX_FPS = 60.0
# Thumbnails are shown as cards in lists; wider is only bytes.
THUMBNAIL_MAX_WIDTH = 640
# Split outputs run at different speeds; the default queue (128 packets) can overflow.
MAX_MUXING_QUEUE = 4096
# On top of the preset: diamond motion search and the fastest subpixel refinement. Measured
# on the lecture-like and high-motion benches (docs/PERFORMANCE.md): about a fifth less CPU
# than plain veryfast for 2 % (lecture) to 7 % (full-frame motion) more bytes at the same SSIM.
X264_PARAMS = "me=dia:subme=1"
# The top rung of a source whose rate reaches that rung's cap: the cap, not the CRF, decides
# its quality there, and subpixel refinement is what buys it back. veryfast's own subme=2
# with the diamond search: on the bench's talking head (1080p at its 5 Mb/s cap) SSIM
# 0.9784, against 0.9786 for plain veryfast and 0.9745 with X264_PARAMS, for 6 % less CPU
# than plain veryfast (docs/PERFORMANCE.md).
RATE_BOUND_X264_PARAMS = "me=dia:subme=2"
# One x264 thread per rendition: the ladder's four encoders and the decoder already keep
# every core busy, and x264's own frame threads only add synchronisation on top (13 % less
# CPU for the same bytes and SSIM on the bench's screencast, docs/PERFORMANCE.md).
ENCODER_THREADS = 1
# The upload is decoded in one thread too: the four encoders already fill the process, and the
# decoder's frame threads cost a quarter more CPU for the same frames (the 60 s bench lecture:
# 6.4 s against 4.8 s, docs/PERFORMANCE.md).
DECODER_THREADS = 1
# The filter graph (split and scale) runs in the main thread: its own worker threads only
# add synchronisation, for the same frames (3 % of the CPU on the 20 s bench lecture,
# docs/PERFORMANCE.md).
FILTER_THREADS = 1
# A rung is scaled from a larger rung's picture only when that one is at least this many
# times its size, else from the source: a 4:3 step (480p -> 360p) on top of a 3:2 one blurs
# text edges (SSIM 0.9985 against the source scaled directly, before any encode), a 2:1 step
# from 720p does not (0.9999) and costs less than scaling the 1080p source (docs/PERFORMANCE.md).
MIN_SCALE_STEP = 1.5
OUTPUT_DIR = "out"
SEGMENT_PATTERN = "seg_%05d.ts"
MASTER_PLAYLIST = "master.m3u8"
THUMBNAIL = "thumbnail.jpg"


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
    audio_kbps: int = AUDIO_KBPS,
    copy_keyint: int = 0,
    thumbnail: tuple[float, int, int] | None = None,
    crf_offset: float = 0.0,
    rate_bound_top: bool = False,
    top_crf_offset: float = 0.0,
    x264_params: str | None = None,
    lower_x264_params: str | None = None,
) -> list[str]:
    """One decode, `split` into every encoded rendition, libx264 at a capped CRF, one AAC
    encode shared by every variant (an HLS audio group), muxed as HLS.

    With `copy_keyint` the first rendition is the source's own video, remuxed (`-c:v copy`),
    and the encoded renditions put a keyframe on every frame that is one in the source and
    nowhere else (a GOP of `copy_keyint` frames, longer than the source's longest), so the
    HLS muxer cuts every variant at the same instants. With `thumbnail` (at seconds, width,
    height) one more branch of the same decode writes the JPEG of the first frame at or
    after that instant: no second pass over the upload.
    ffmpeg's own master playlist is only a first draft (it lists the audio as a variant);
    the transcoder writes the one that is served. `crf_offset` (the content probe's tuning)
    is added to every encoded rung's CRF, and `top_crf_offset` to the first encoded rung's
    too. Every encoded rung's x264 parameters are `x264_params_for` the content's own
    (`x264_params`, with `lower_x264_params` over them below the first encoded rung), the
    first one's `rate_bound_top` or not.
    """
    passthrough = copy_keyint > 0
    if passthrough and fps > MAX_FPS:
        raise ValueError("a source above MAX_FPS cannot be passed through")
    upload = ffmpeg.input(
        file_url(source), threads=DECODER_THREADS, **guarded_input_options(demuxer)
    )
    picture = upload[str(video_index)]
    if fps > MAX_FPS:
        picture = picture.filter("fps", MAX_FPS)
        fps = MAX_FPS
    encoded = renditions[1:] if passthrough else renditions
    # Convert once before the split: every rendition is 8-bit 4:2:0 (High profile players).
    frames = picture.filter("format", "yuv420p")
    thumbnail_frames = None
    if thumbnail:
        frames, thumbnail_frames = _split(frames)
    pictures = _scaled(frames, encoded)
    streams = []
    options: dict[str, str | int | float] = {}
    var_stream_map = []
    # Every rendition must cut its segments at the same instants, which players need to
    # switch: no scene-cut keyframes, forced ones where the cuts must be, and a GOP that adds
    # none in between. Encoding everything: a fixed GOP of one segment and keyframes by time
    # (so variable frame rate sources stay aligned too). With a copied top rung: the source's
    # own keyframes (by frame, so no timestamp offset can shift them).
    if passthrough:
        keyframes = "source"
        gop, keyint_min = copy_keyint, 1
    else:
        keyframes = f"expr:gte(t,n_forced*{segment_seconds})"
        gop = keyint_min = max(1, round(segment_seconds * fps))
    for i, rendition in enumerate(renditions):
        if passthrough and i == 0:
            streams.append(upload[str(video_index)])
            options["c:v:0"] = "copy"
        else:
            streams.append(pictures[i - 1 if passthrough else i])
            top = i == (1 if passthrough else 0)
            encoder = x264_options(
                rendition,
                tuned_crf(rendition.crf, crf_offset, top_crf_offset, top),
                x264_params_for(
                    x264_params, rate_bound_top and top, None if top else lower_x264_params
                ),
                preset,
            )
            encoder.update(g=gop, keyint_min=keyint_min, force_key_frames=keyframes)
            options.update({f"{key}:v:{i}": value for key, value in encoder.items()})
        group = f",agroup:{AUDIO_NAME}" if audio_index is not None else ""
        var_stream_map.append(f"v:{i}{group},name:{rendition.name}")
    if audio_index is not None:
        # The audio is encoded once, in its own rendition that every variant refers to.
        streams.append(upload[str(audio_index)])
        options.update({"c:a": "aac", "b:a": f"{audio_kbps}k", "ac": 2, "ar": 48000})
        var_stream_map.append(f"a:0,agroup:{AUDIO_NAME},name:{AUDIO_NAME}")
    output = ffmpeg.output(
        *streams,
        f"{OUTPUT_DIR}/%v/index.m3u8",
        **options,
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
            thumbnail_frames.filter("select", f"gte(t,{at_seconds:.3f})*eq(selected_n,0)")
            .filter("scale", width, height)
            .filter("setsar", 1)
        )
        output = ffmpeg.merge_outputs(output, _thumbnail_output(frame))
    return (
        output.global_args(
            *QUIET_ARGS, "-filter_complex_threads", str(FILTER_THREADS), "-progress", "pipe:1"
        )
        .overwrite_output()
        .compile(cmd=ffmpeg_bin)
    )


def _split(stream):
    branches = stream.filter_multi_output("split", 2)
    return branches.stream(0), branches.stream(1)


def effective_crf(crf: float, offset: float) -> float:
    """A rung's CRF moved by the content's tuning, kept inside x264's range."""
    return min(51.0, max(0.0, crf + offset))


def x264_options(
    rendition: Rendition, crf: float, x264_params: str, preset: str
) -> dict[str, str | int]:
    """How a rung is encoded, as ffmpeg output options without a stream specifier: libx264
    at `crf` under the rung's cap, no scene-cut keyframes (the caller places them). The
    ladder and the rate trial both encode with these."""
    return {
        "c": "libx264",
        "preset": preset,
        "profile": "high",
        "threads": ENCODER_THREADS,
        "x264-params": x264_params,
        "crf": f"{crf:g}",
        "maxrate": f"{rendition.maxrate_kbps}k",
        "bufsize": f"{rendition.bufsize_kbps}k",
        "sc_threshold": 0,
    }


def x264_params_for(
    content_params: str | None, rate_bound: bool, lower_params: str | None = None
) -> str:
    """An encoded rung's x264 parameters: X264_PARAMS with the content's own over them (the
    content probe's tuning; None: none), the content's `lower_params` over those for a rung
    below the top one, and RATE_BOUND_X264_PARAMS over those for a rung whose cap decides its
    quality (the top rung of a source at that cap; the rate trial encodes with the top
    rung's)."""
    params = _merged(_merged(X264_PARAMS, content_params), lower_params)
    return _merged(params, RATE_BOUND_X264_PARAMS) if rate_bound else params


def _merged(base: str, over: str | None) -> str:
    """x264's `key=value:...` parameters of `base` with those of `over` replacing or added."""
    options = dict(item.split("=", 1) for item in base.split(":") if item)
    options.update(item.split("=", 1) for item in (over or "").split(":") if item)
    return ":".join(f"{key}={value}" for key, value in options.items())


def tuned_crf(crf: float, crf_offset: float, top_crf_offset: float, top: bool) -> float:
    """The CRF an encoded rung really gets: the content's offset on every rung, and the top
    encoded rung's own on top (the command and the stored rendition both read this)."""
    return effective_crf(crf, crf_offset + (top_crf_offset if top else 0.0))


def scale_parents(renditions: Sequence[Rendition]) -> list[int | None]:
    """For each rendition (largest first), the index of the rendition whose picture it is
    scaled from, or None for the source: the smallest larger one that is at least
    MIN_SCALE_STEP times its size (a 360p from the 720p, the 720p from the 1080p)."""
    parents: list[int | None] = []
    for k, rendition in enumerate(renditions):
        short = min(rendition.width, rendition.height)
        larger = [
            j
            for j in range(k)
            if min(renditions[j].width, renditions[j].height) >= MIN_SCALE_STEP * short
        ]
        parents.append(
            min(larger, key=lambda j: min(renditions[j].width, renditions[j].height))
            if larger
            else None
        )
    return parents


def _scaled(frames, renditions: Sequence[Rendition]) -> list:
    """Each rendition's picture, largest first, scaled as `scale_parents` says: every scaled
    picture is split between its own encoder and the rungs made from it."""
    parents = scale_parents(renditions)
    children = {
        k: [i for i, p in enumerate(parents) if p == k] for k in [None, *range(len(parents))]
    }
    outlets: dict[int | None, list] = {None: _branches(frames, len(children[None]))}
    pictures: list = [None] * len(renditions)
    for k, rendition in enumerate(renditions):
        scaled = outlets[parents[k]].pop(0).filter("scale", rendition.width, rendition.height)
        branches = _branches(scaled, 1 + len(children[k]))
        pictures[k] = branches[0].filter("setsar", 1)
        outlets[k] = branches[1:]
    return pictures


def _branches(stream, count: int) -> list:
    if count <= 1:
        return [stream] * count
    split = stream.filter_multi_output("split", count)
    return [split.stream(i) for i in range(count)]


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
    return (
        _thumbnail_output(frame).global_args(*QUIET_ARGS).overwrite_output().compile(cmd=ffmpeg_bin)
    )
