"""FfmpegTranscoder end to end with the real ffmpeg: ladder, playlists, thumbnail, progress."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder
from tests.media import ffprobe_json, make_clip

pytestmark = pytest.mark.slow


def _attributes(line: str) -> dict[str, str]:
    """KEY=value pairs of a tag line, quoted values kept with their quotes."""
    return dict(re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))


def _master_variants(master: Path) -> dict[str, dict[str, str]]:
    lines = master.read_text().splitlines()
    return {
        lines[i + 1]: _attributes(line)
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    }


def _segment_durations(playlist: Path) -> list[str]:
    return [line for line in playlist.read_text().splitlines() if line.startswith("#EXTINF:")]


def _run(tmp_path: Path, clip_args: dict, **transcoder_args):
    work_dir = tmp_path / "job"
    work_dir.mkdir()
    source = make_clip(work_dir / "source.mp4", **clip_args)
    calls: list[tuple[float, str]] = []
    transcoder = FfmpegTranscoder(**transcoder_args)
    output = transcoder.transcode(
        source, work_dir, lambda pct, step: calls.append((pct, step)), lambda: None
    )
    return output, calls


def test_720p_source_gets_720_480_360_in_one_decodable_master(tmp_path):
    output, calls = _run(
        tmp_path,
        {"width": 1280, "height": 720, "seconds": 3},
        segment_seconds=1,
        poll_interval=0.05,
    )
    out = output.output_dir
    assert out == (tmp_path / "job" / "out").resolve()
    assert [r["name"] for r in output.renditions] == ["720p", "480p", "360p"]
    assert [(r["width"], r["height"]) for r in output.renditions] == [
        (1280, 720),
        (852, 480),
        (640, 360),
    ]
    assert output.probe.has_audio and output.probe.width == 1280
    assert set(output.stage_timings_ms) == {"probe", "transcode", "thumbnail"}

    variants = _master_variants(out / output.master_playlist)
    assert list(variants) == ["720p/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"]
    for rendition in output.renditions:
        attrs = variants[rendition["playlist"]]
        assert int(attrs["BANDWIDTH"]) == rendition["bandwidth"] > rendition["video_bitrate_kbps"]
        assert attrs["RESOLUTION"] == f"{rendition['width']}x{rendition['height']}"
        assert attrs["CODECS"].startswith('"avc1.6400') and attrs["CODECS"].endswith(',mp4a.40.2"')
    assert variants["720p/index.m3u8"]["CODECS"] == '"avc1.64001f,mp4a.40.2"'

    # Keyframe-aligned: the same segment cuts in every rendition, each starting on a keyframe.
    durations = {r["name"]: _segment_durations(out / r["playlist"]) for r in output.renditions}
    assert len(durations["720p"]) == 3
    assert durations["480p"] == durations["720p"] == durations["360p"]
    for segment in sorted(out.glob("*/seg_*.ts")):
        first = ffprobe_json(
            segment, "-select_streams", "v:0", "-show_packets", "-read_intervals", "%+#1"
        )["packets"][0]
        assert first["flags"].startswith("K"), segment

    # The master plays end to end: every variant, video and audio.
    decoded = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-protocol_whitelist",
            "file,hls",
            "-i",
            "master.m3u8",
            "-map",
            "0",
            "-f",
            "null",
            "-",
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stderr == ""

    thumb = ffprobe_json(out / output.thumbnail)["streams"][0]
    assert (thumb["codec_name"], thumb["width"], thumb["height"]) == ("mjpeg", 640, 360)

    steps = [step for _, step in calls]
    assert steps[0] == "probe" and steps[-1] == "thumbnail"
    transcode = [pct for pct, step in calls if step == "transcode"]
    assert transcode == sorted(transcode)
    assert transcode[-1] == 100.0
    assert len([p for p in transcode if 0 < p < 100]) >= 2, calls


def test_source_without_audio_gets_video_only_variants_at_its_own_size(tmp_path):
    output, _ = _run(tmp_path, {"width": 320, "height": 180, "seconds": 1, "audio": False})
    assert [(r["name"], r["width"], r["height"]) for r in output.renditions] == [("180p", 320, 180)]
    assert output.renditions[0]["audio_bitrate_kbps"] == 0
    assert not output.probe.has_audio
    attrs = _master_variants(output.output_dir / "master.m3u8")["180p/index.m3u8"]
    assert re.fullmatch(r'"avc1\.6400[0-9a-f]{2}"', attrs["CODECS"]), attrs
    segment = next((output.output_dir / "180p").glob("seg_*.ts"))
    assert [s["codec_type"] for s in ffprobe_json(segment)["streams"]] == ["video"]


def test_480p_source_is_never_upscaled(tmp_path):
    output, _ = _run(tmp_path, {"width": 854, "height": 480, "seconds": 1})
    assert [(r["name"], r["width"], r["height"]) for r in output.renditions] == [
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    assert sorted(p.name for p in output.output_dir.iterdir()) == [
        "360p",
        "480p",
        "master.m3u8",
        "thumbnail.jpg",
    ]


def test_portrait_phone_video_keeps_its_orientation(tmp_path):
    # 360x640 passes a 640x360 limit: limits compare long and short sides.
    output, _ = _run(
        tmp_path, {"width": 360, "height": 640, "seconds": 1}, max_width=640, max_height=360
    )
    assert [(r["name"], r["width"], r["height"]) for r in output.renditions] == [("360p", 360, 640)]
    thumb = ffprobe_json(output.output_dir / "thumbnail.jpg")["streams"][0]
    assert (thumb["width"], thumb["height"]) == (360, 640)


def test_from_config_reads_the_limits_off_the_app_config():
    from academy.config import load_config

    cfg = load_config({"VIDEO_HLS_SEGMENT_SECONDS": "4", "VIDEO_STALL_SECONDS": "30"})
    transcoder = FfmpegTranscoder.from_config(cfg, preset="ultrafast")
    assert transcoder.segment_seconds == 4
    assert transcoder.stall_seconds == 30
    assert transcoder.max_duration_seconds == cfg.max_duration_seconds
    assert transcoder.max_source_bytes == cfg.max_source_bytes
    assert (transcoder.max_width, transcoder.max_height) == (cfg.max_width, cfg.max_height)
    assert transcoder.preset == "ultrafast"


def test_a_second_attempt_in_the_same_work_folder_replaces_the_first(tmp_path):
    work_dir = tmp_path / "job"
    stale = work_dir / "out" / "1080p"
    stale.mkdir(parents=True)
    (stale / "index.m3u8").write_text("left by a killed attempt")
    source = make_clip(work_dir / "source.mkv", 320, 180, 1)
    output = FfmpegTranscoder().transcode(source, work_dir, lambda *_: None, lambda: None)
    assert output.probe.format_name == "matroska,webm"
    assert not stale.exists()
