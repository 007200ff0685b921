"""FfmpegTranscoder end to end with the real ffmpeg: ladder, playlists, thumbnail, progress."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder
from src.infrastructure.media.ladder import parse_ladder
from tests.media import ffprobe_json, make_clip, paced_ffmpeg, run_ffmpeg

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


def _segment_durations(playlist: Path) -> list[float]:
    return [
        float(line.split(":", 1)[1].rstrip(","))
        for line in playlist.read_text().splitlines()
        if line.startswith("#EXTINF:")
    ]


def _stream_types(segment: Path) -> list[str]:
    return [s["codec_type"] for s in ffprobe_json(segment)["streams"]]


def _plays_with_sound(out: Path, variants: int, seconds: float, fps: float) -> None:
    """Each variant of the master (an ffmpeg 'program': its video plus the shared audio)
    decodes end to end without an error, with as many frames and samples as the source."""
    for program in range(variants):
        decoded = subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-protocol_whitelist", "file,hls"),
                *("-i", "master.m3u8", "-map", f"0:p:{program}:v", "-map", f"0:p:{program}:a"),
                *("-f", "framecrc", "-"),
            ],
            cwd=out,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert decoded.returncode == 0 and decoded.stderr == "", decoded.stderr
        rows = [line.split(",") for line in decoded.stdout.splitlines() if line[:1].isdigit()]
        frames = [r for r in rows if r[0].strip() == "0"]
        samples = sum(int(r[3]) for r in rows if r[0].strip() == "1")  # duration in 1/48000
        assert abs(len(frames) - seconds * fps) <= 2, (program, len(frames))
        assert abs(samples / 48000 - seconds) < 0.1, (program, samples)


def test_720p_source_gets_720_480_360_in_one_decodable_master(tmp_path):
    output, calls = _run(
        tmp_path,
        {"width": 1280, "height": 720, "seconds": 3},
        segment_seconds=1,
        poll_interval=0.05,
        # At most real time: the encode lasts 3 s or more, so percents between 0 and 100 are
        # reported however fast the machine (ffmpeg writes progress every 0.5 s).
        ffmpeg_bin=str(paced_ffmpeg(tmp_path / "paced", 1.0)),
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
    # The test clip is x264 ultrafast: Constrained Baseline, not a profile to pass through.
    top = output.renditions[0]
    assert (top["video"], top["passthrough"]) == ("libx264", False)
    assert top["passthrough_reason"] == "H.264 profile 'Constrained Baseline' is not High or Main"
    assert [r["crf"] for r in output.renditions] == [24, 23, 23]  # the ladder's own CRFs

    text = (out / output.master_playlist).read_text()
    assert text.count("#EXT-X-MEDIA:TYPE=AUDIO") == 1
    assert 'URI="audio/index.m3u8"' in text
    variants = _master_variants(out / output.master_playlist)
    assert list(variants) == ["720p/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"]
    for rendition in output.renditions:
        attrs = variants[rendition["playlist"]]
        assert int(attrs["BANDWIDTH"]) == rendition["bandwidth"]
        assert int(attrs["AVERAGE-BANDWIDTH"]) == rendition["average_bandwidth"]
        assert rendition["bandwidth"] >= rendition["average_bandwidth"] > 0
        assert attrs["RESOLUTION"] == f"{rendition['width']}x{rendition['height']}"
        assert attrs["AUDIO"] == '"audio"'
        assert attrs["CODECS"].startswith('"avc1.6400') and attrs["CODECS"].endswith(',mp4a.40.2"')
        # BANDWIDTH is what was written: the variant's video bytes plus the shared audio's.
        stored = sum(p.stat().st_size for p in (out / rendition["name"]).glob("seg_*.ts"))
        stored += sum(p.stat().st_size for p in (out / "audio").glob("seg_*.ts"))
        assert rendition["average_bandwidth"] == pytest.approx(stored * 8 / 3, rel=0.05)
    assert variants["720p/index.m3u8"]["CODECS"] == '"avc1.64001f,mp4a.40.2"'

    # Audio once: its own segments, none in the video variants.
    assert {_stream_types(p)[0] for p in (out / "audio").glob("seg_*.ts")} == {"audio"}
    for segment in out.glob("*p/seg_*.ts"):
        assert _stream_types(segment) == ["video"], segment

    # Keyframe-aligned: the same segment cuts in every rendition, each starting on a keyframe.
    durations = {r["name"]: _segment_durations(out / r["playlist"]) for r in output.renditions}
    assert len(durations["720p"]) == 3
    assert durations["480p"] == durations["720p"] == durations["360p"]
    for segment in sorted(out.glob("*p/seg_*.ts")):
        first = ffprobe_json(
            segment, "-select_streams", "v:0", "-show_packets", "-read_intervals", "%+#1"
        )["packets"][0]
        assert first["flags"].startswith("K"), segment

    _plays_with_sound(out, 3, 3.0, 25)

    thumb = ffprobe_json(out / output.thumbnail)["streams"][0]
    assert (thumb["codec_name"], thumb["width"], thumb["height"]) == ("mjpeg", 640, 360)

    steps = [step for _, step in calls]
    assert steps[0] == "probe" and steps[-1] == "thumbnail"
    transcode = [pct for pct, step in calls if step == "transcode"]
    assert transcode == sorted(transcode)
    assert transcode[-1] == 100.0
    assert len([p for p in transcode if 0 < p < 100]) >= 2, calls


def _low_rate_h264(
    path: Path, *, seconds: int, keyframe_seconds: float, fps: int = 25, crf: int = 38
) -> Path:
    """A 1280x720 H.264 High upload with a static-ish picture at a low rate (a passthrough
    candidate), keyframes every `keyframe_seconds`, and a tone."""
    gop = round(keyframe_seconds * fps)
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={fps}:duration={seconds}"),
            *("-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}"),
            *("-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-profile:v", "high"),
            *("-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"),
            *("-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest", str(path)),
        ]
    )
    return path


# Lower rungs capped well below the low-rate source's ~540 kb/s, so each needs clearly less
# bandwidth than the one above, and passthrough thresholds (the old defaults) above it.
_STEPPED = parse_ladder(
    "1080p:1080:23:5000:1500,720p:720:23:2800:1000,480p:480:23:180,360p:360:23:80"
)


def _decoded_frame_hashes(path: Path) -> list[str]:
    done = subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-protocol_whitelist", "file,hls", "-i", str(path)),
            *("-map", "0:v:0", "-f", "framemd5", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.rsplit(",", 1)[1].strip() for line in done.stdout.splitlines() if line[:1] == "0"]


def test_low_rate_h264_source_is_the_top_rung_as_is_with_aligned_segments(tmp_path):
    work_dir = tmp_path / "job"
    work_dir.mkdir()
    source = _low_rate_h264(work_dir / "source.mp4", seconds=8, keyframe_seconds=2)
    output = FfmpegTranscoder(segment_seconds=2, preset="ultrafast", ladder=_STEPPED).transcode(
        source, work_dir, lambda *_: None, lambda: None
    )
    out = output.output_dir
    top, *others = output.renditions
    assert (top["name"], top["video"], top["crf"], top["passthrough"]) == (
        "720p",
        "copy",
        None,
        True,
    )
    assert "at or below 1000 kb/s" in top["passthrough_reason"]
    assert [r["video"] for r in others] == ["libx264", "libx264"]

    # The top rung's video is the source's own: the same pictures, bit for bit, and the
    # same packets (the stream was not re-encoded).
    assert _decoded_frame_hashes(out / "720p" / "index.m3u8") == _decoded_frame_hashes(source)
    source_video = ffprobe_json(source)["streams"][0]
    copied = ffprobe_json(next((out / "720p").glob("seg_*.ts")))["streams"][0]
    for key in ("codec_name", "profile", "level", "width", "height"):
        assert copied[key] == source_video[key], key

    # Segments aligned: every variant is cut at the same instants, each on a keyframe.
    durations = [_segment_durations(out / r["playlist"]) for r in output.renditions]
    assert len(durations[0]) == 4
    assert all(len(d) == 4 and d[:-1] == durations[0][:-1] for d in durations), durations
    for segment in sorted(out.glob("*p/seg_*.ts")):
        first = ffprobe_json(
            segment, "-select_streams", "v:0", "-show_packets", "-read_intervals", "%+#1"
        )["packets"][0]
        assert first["flags"].startswith("K"), segment

    # The master names the copied stream's own codec; every variant plays with the shared audio.
    variants = _master_variants(out / "master.m3u8")
    assert variants["720p/index.m3u8"]["CODECS"] == '"avc1.64001f,mp4a.40.2"'
    _plays_with_sound(out, 3, 8.0, 25)


def test_sparse_keyframes_mean_the_top_rung_is_encoded_and_why(tmp_path):
    work_dir = tmp_path / "job"
    work_dir.mkdir()
    source = _low_rate_h264(work_dir / "source.mp4", seconds=6, keyframe_seconds=5)
    output = FfmpegTranscoder(segment_seconds=2, preset="ultrafast", ladder=_STEPPED).transcode(
        source, work_dir, lambda *_: None, lambda: None
    )
    top = output.renditions[0]
    assert (top["video"], top["passthrough"]) == ("libx264", False)
    assert top["passthrough_reason"] == (
        "the source's keyframes make a 5.0 s segment (target 2 s, at most 3)"
    )
    durations = [_segment_durations(output.output_dir / r["playlist"]) for r in output.renditions]
    assert durations[0] == durations[1] == durations[2] and len(durations[0]) == 3


@pytest.mark.parametrize(
    ("source_crf", "crf", "copied"),
    [
        # About 540 kb/s, and the rung's CRF wants more than that: a second encode saves nothing.
        (38, 23, True),
        # About 980 kb/s, and a far coarser rung: the encode is a fraction of the upload.
        (30, 45, False),
    ],
)
def test_a_source_above_the_threshold_is_copied_only_when_our_encode_would_keep_its_bytes(
    tmp_path, source_crf, crf, copied
):
    work_dir = tmp_path / "job"
    work_dir.mkdir()
    source = _low_rate_h264(work_dir / "source.mp4", seconds=8, keyframe_seconds=2, crf=source_crf)
    # Both above the 720p rung's threshold, and within the rate trial's reach of it.
    ladder = parse_ladder(f"720p:720:{crf}:2800:400,360p:360:{crf}:80")
    # The production preset: ultrafast spends more at CRF 45 than veryfast did at 38.
    output = FfmpegTranscoder(segment_seconds=2, preset="veryfast", ladder=ladder).transcode(
        source, work_dir, lambda *_: None, lambda: None
    )
    top = output.renditions[0]
    assert (top["video"], top["passthrough"]) == (("copy", True) if copied else ("libx264", False))
    reason = top["passthrough_reason"]
    assert (
        reason.startswith("the source video's ") and "above the 720p rung's passthrough" in reason
    )
    kept = int(
        re.search(r"our encode of the same stretches came to (\d+)% of its bytes", reason)[1]
    )
    assert (kept >= 80) == copied, reason
    assert not (work_dir / "rate_trial.h264").exists()
    _plays_with_sound(output.output_dir, 2, 8.0, 25)


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
        "audio",
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


def test_a_phone_video_coded_landscape_with_a_rotation_is_published_portrait(tmp_path):
    output, _ = _run(tmp_path, {"width": 640, "height": 360, "seconds": 1, "rotate": 90})
    # Limits compare the coded size; the row and the ladder get what a viewer sees.
    assert (output.probe.width, output.probe.height) == (640, 360)
    assert output.probe.display_size() == (360, 640)
    assert [(r["name"], r["width"], r["height"]) for r in output.renditions] == [("360p", 360, 640)]
    rendition = ffprobe_json(next((output.output_dir / "360p").glob("*.ts")))["streams"][0]
    assert (rendition["width"], rendition["height"]) == (360, 640)
    thumb = ffprobe_json(output.output_dir / "thumbnail.jpg")["streams"][0]
    assert (thumb["width"], thumb["height"]) == (360, 640)


def test_from_config_reads_the_limits_off_the_app_config():
    from tests.dev_config import dev_config

    cfg = dev_config(
        {
            "VIDEO_HLS_SEGMENT_SECONDS": "4",
            "VIDEO_STALL_SECONDS": "30",
            "VIDEO_LADDER": "720p:720:24:2000:900,360p:360:26:700",
            "VIDEO_AUDIO_KBPS": "96",
        }
    )
    transcoder = FfmpegTranscoder.from_config(cfg, preset="ultrafast")
    assert transcoder.segment_seconds == 4
    assert transcoder.stall_seconds == 30
    assert transcoder.max_duration_seconds == cfg.max_duration_seconds
    assert transcoder.max_source_bytes == cfg.max_source_bytes
    assert (transcoder.max_width, transcoder.max_height) == (cfg.max_width, cfg.max_height)
    assert transcoder.preset == "ultrafast"
    assert [(r.name, r.crf, r.maxrate_kbps, r.passthrough_kbps) for r in transcoder.ladder] == [
        ("720p", 24, 2000, 900),
        ("360p", 26, 700, 0),
    ]
    assert transcoder.audio_kbps == 96


def test_a_second_attempt_in_the_same_work_folder_replaces_the_first(tmp_path):
    work_dir = tmp_path / "job"
    stale = work_dir / "out" / "1080p"
    stale.mkdir(parents=True)
    (stale / "index.m3u8").write_text("left by a killed attempt")
    source = make_clip(work_dir / "source.mkv", 320, 180, 1)
    output = FfmpegTranscoder().transcode(source, work_dir, lambda *_: None, lambda: None)
    assert output.probe.format_name == "matroska,webm"
    assert not stale.exists()
