"""Pure parts of the ffmpeg adapter: ladder planning, probe parsing, master playlist, progress."""

from __future__ import annotations

import json

import pytest

from src.application.domain import ErrorCode, VideoProcessingError
from src.infrastructure.media.ffmpeg_progress import FfmpegProgress
from src.infrastructure.media.ladder import DEFAULT_LADDER, Rung, plan_ladder
from src.infrastructure.media.master_playlist import (
    MasterVariant,
    avc_codec,
    media_bandwidth,
    write_master,
)
from src.infrastructure.media.probe import parse_probe, probe_failure


def _sizes(width: int, height: int) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in plan_ladder(width, height)]


def test_ladder_never_upscales_and_keeps_sides_even():
    assert [name for name, _, _ in _sizes(1920, 1080)] == ["1080p", "720p", "480p", "360p"]
    assert _sizes(854, 480) == [("480p", 854, 480), ("360p", 640, 360)]
    assert _sizes(1080, 1920)[0] == ("1080p", 1080, 1920)  # portrait: the short side rules
    assert _sizes(321, 179) == [("178p", 318, 178)]  # below the ladder: its own even size
    assert all(w % 2 == 0 and h % 2 == 0 for _, w, h in _sizes(1000, 563))


def test_ladder_rejects_names_that_would_be_unsafe_folder_names():
    with pytest.raises(ValueError):
        Rung("../720p", 720, 2800, 128)
    with pytest.raises(ValueError):
        plan_ladder(1280, 720, [DEFAULT_LADDER[1], DEFAULT_LADDER[1]])


def _probe(streams: list[dict], fmt: str = "mov,mp4,m4a,3gp,3g2,mj2", duration="2.0"):
    data = {"format": {"format_name": fmt, "duration": duration}, "streams": streams}
    return parse_probe(json.dumps(data), 1234)


VIDEO = {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080}


def test_probe_applies_rotation_and_non_square_pixels_to_the_display_size():
    rotated = dict(VIDEO, side_data_list=[{"side_data_type": "Display Matrix", "rotation": -90}])
    info = _probe([rotated])
    assert (info.display_width, info.display_height) == (1080, 1920)
    assert (info.probe.width, info.probe.height) == (1920, 1080)  # coded size, for limits
    assert info.probe.display_size() == (1080, 1920)  # what the video's row and page show
    anamorphic = dict(VIDEO, width=720, height=576, sample_aspect_ratio="64:45")
    assert _probe([anamorphic]).display_width == 1024


def test_probe_picks_streams_by_index_and_skips_cover_art():
    cover = dict(VIDEO, index=0, disposition={"attached_pic": 1})
    audio = {"index": 1, "codec_type": "audio", "codec_name": "aac"}
    info = _probe([cover, audio, dict(VIDEO, index=2, avg_frame_rate="30000/1001")])
    assert (info.video_index, info.audio_index) == (2, 1)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    with pytest.raises(VideoProcessingError) as caught:
        _probe([cover, audio])
    assert caught.value.code == ErrorCode.UNSUPPORTED_MEDIA


@pytest.mark.parametrize(
    ("fmt", "duration", "code"),
    [
        ("hls", "2.0", ErrorCode.UNSUPPORTED_MEDIA),
        ("image2", "2.0", ErrorCode.UNSUPPORTED_MEDIA),
        ("matroska,webm", "N/A", ErrorCode.PROBE_FAILED),
    ],
)
def test_probe_refuses_other_formats_and_unknown_durations(fmt, duration, code):
    with pytest.raises(VideoProcessingError) as caught:
        _probe([VIDEO], fmt=fmt, duration=duration)
    assert (caught.value.code, caught.value.retryable) == (code, False)


def test_probe_failure_names_the_refused_demuxer():
    stderr = "[png_pipe @ 0x5599] Format not on whitelist 'mov,...'\nfile:x: Invalid argument"
    assert probe_failure(1, stderr).code == ErrorCode.UNSUPPORTED_MEDIA
    assert "png_pipe" in probe_failure(1, stderr).message
    assert probe_failure(1, "moov atom not found").code == ErrorCode.PROBE_FAILED
    assert probe_failure(-9, "").retryable


def _media_playlist(folder, segments, target=6):
    """A media playlist of (duration, bytes) segments with files of those sizes."""
    lines = ["#EXTM3U", f"#EXT-X-TARGETDURATION:{target}"]
    for i, (duration, size) in enumerate(segments):
        (folder / f"seg_{i}.ts").write_bytes(b"\0" * size)
        lines += [f"#EXTINF:{duration:.6f},", f"seg_{i}.ts"]
    (folder / "index.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    return folder / "index.m3u8"


def test_bandwidth_is_the_measured_peak_and_average_of_the_segments(tmp_path):
    # 6 s at 1 Mb/s, 6 s at 3 Mb/s (a slide change), 6 s at 1 Mb/s, then a 40 ms tail holding
    # one keyframe (100 kB: 20 Mb/s over its own length, too short to count as a burst).
    playlist = _media_playlist(
        tmp_path, [(6, 750_000), (6, 2_250_000), (6, 750_000), (0.04, 100_000)]
    )
    peak, average = media_bandwidth(playlist)
    assert peak == 3_000_000
    assert average == round((3_750_000 + 100_000) * 8 / 18.04)
    (tmp_path / "empty.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-ENDLIST\n")
    with pytest.raises(ValueError):
        media_bandwidth(tmp_path / "empty.m3u8")


def test_master_lists_the_shared_audio_once_and_every_video_variant_with_it(tmp_path):
    master = tmp_path / "master.m3u8"
    variant = MasterVariant(
        "720p/index.m3u8", 1_500_000, 900_000, 1280, 720, "avc1.64001f,mp4a.40.2", 30
    )
    write_master(master, [variant], "audio/index.m3u8")
    assert master.read_text() == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,'
        'CHANNELS="2",URI="audio/index.m3u8"\n\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=1500000,AVERAGE-BANDWIDTH=900000,RESOLUTION=1280x720,"
        'FRAME-RATE=30.000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"\n720p/index.m3u8\n'
    )
    write_master(master, [variant], None)  # a silent upload: no audio group
    assert "EXT-X-MEDIA" not in master.read_text()
    assert 'AUDIO="' not in master.read_text()
    assert avc_codec("High", 31) == "avc1.64001f"
    assert avc_codec("Main", 40) == "avc1.4d0028"


def test_progress_counts_only_forward_movement():
    progress = FfmpegProgress()
    for line in ("frame=0", "out_time_us=N/A", "out_time_us=-23000", "progress=continue"):
        progress.feed(line)
    assert progress.percent(4.0) == 0.0
    progress.feed("out_time_us=1000000")
    moved = progress.last_activity
    progress.feed("out_time_us=1000000")  # a repeated block while stuck is not activity
    assert progress.last_activity == moved
    assert progress.percent(4.0) == 25.0
    progress.feed("out_time_us=9000000")
    assert progress.percent(4.0) == 99.9
    progress.feed("progress=end")
    assert progress.percent(4.0) == 100.0
