"""Uploads that are not what they claim: refused with a clear code, nothing outside read."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from src.application.domain import ErrorCode, VideoProcessingError
from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder
from tests.media import (
    FileOpenWatch,
    make_audio_only,
    make_clip,
    make_concat_list,
    make_hls_playlist,
    make_png,
    truncate_copy,
)

pytestmark = pytest.mark.slow
REFUSED = {ErrorCode.UNSUPPORTED_MEDIA, ErrorCode.PROBE_FAILED}


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "job"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def outside_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tenant's video, outside any job folder: a 1234 Hz tone over testsrc2."""
    return make_clip(tmp_path_factory.mktemp("tenant-b") / "private.ts", seconds=1, tone_hz=1234)


def _fail(source: Path, work_dir: Path, **limits) -> VideoProcessingError:
    with pytest.raises(VideoProcessingError) as caught:
        FfmpegTranscoder(**limits).transcode(source, work_dir, lambda *_: None, lambda: None)
    assert not (work_dir / "out").exists(), "a refused upload must produce nothing"
    return caught.value


@pytest.mark.parametrize("craft", [make_hls_playlist, make_concat_list], ids=["hls", "concat"])
def test_playlist_renamed_mp4_is_refused_without_opening_what_it_names(
    craft, work_dir, outside_clip
):
    upload = craft(work_dir / "source.mp4", outside_clip)
    # The watch can fail: an unrestricted ffprobe follows the playlist into the other folder.
    with FileOpenWatch(outside_clip) as control:
        subprocess.run(
            ["ffprobe", "-v", "quiet", "-safe", "0", str(upload)], timeout=30, check=False
        )
    assert control.touched

    with FileOpenWatch(outside_clip) as watch:
        error = _fail(upload, work_dir)
    assert error.code == ErrorCode.UNSUPPORTED_MEDIA
    assert not error.retryable
    assert ("hls" if craft is make_hls_playlist else "concat") in error.message
    assert not watch.touched, "the adapter opened a file outside the work folder"
    assert sorted(p.name for p in work_dir.iterdir()) == ["source.mp4"]


def test_text_file_renamed_mp4_is_refused(work_dir):
    upload = work_dir / "source.mp4"
    upload.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nnot a video at all\n" * 20)
    error = _fail(upload, work_dir)
    assert error.code in REFUSED and not error.retryable


def test_zero_byte_upload_is_refused_as_empty(work_dir):
    upload = work_dir / "source.mp4"
    upload.touch()
    error = _fail(upload, work_dir)
    assert (error.code, error.retryable) == (ErrorCode.PROBE_FAILED, False)
    assert "empty" in error.message


def test_png_renamed_mp4_is_unsupported(work_dir):
    error = _fail(make_png(work_dir / "source.mp4"), work_dir)
    assert (error.code, error.retryable) == (ErrorCode.UNSUPPORTED_MEDIA, False)
    assert "png_pipe" in error.message


def test_audio_only_mp4_has_no_video_stream(work_dir):
    error = _fail(make_audio_only(work_dir / "source.mp4", seconds=1), work_dir)
    assert (error.code, error.retryable) == (ErrorCode.UNSUPPORTED_MEDIA, False)
    assert "no video stream" in error.message


def test_truncated_mp4_with_index_at_the_end_cannot_be_probed(work_dir, tmp_path):
    whole = make_clip(tmp_path / "whole.mp4", seconds=2)
    error = _fail(truncate_copy(whole, work_dir / "source.mp4", 0.3), work_dir)
    assert (error.code, error.retryable) == (ErrorCode.PROBE_FAILED, False)
    assert "moov atom not found" in error.message


def test_truncated_mp4_with_index_first_fails_instead_of_publishing_half(work_dir, tmp_path):
    # The index survives, so ffprobe reports the full 3 s and ffmpeg exits 0 with half.
    whole = make_clip(tmp_path / "whole.mp4", seconds=3, faststart=True)
    upload = truncate_copy(whole, work_dir / "source.mp4", 0.5)
    with pytest.raises(VideoProcessingError) as caught:
        FfmpegTranscoder().transcode(upload, work_dir, lambda *_: None, lambda: None)
    assert (caught.value.code, caught.value.retryable) == (ErrorCode.TRANSCODE_FAILED, False)
    assert "truncated" in caught.value.message


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", 640, 360, seconds=2)


def _copy_in(clip: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    upload = folder / "source.mp4"
    upload.write_bytes(clip.read_bytes())
    return upload


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        ({"max_duration_seconds": 1}, ErrorCode.DURATION_TOO_LONG),
        ({"max_width": 320, "max_height": 180}, ErrorCode.INPUT_TOO_LARGE),
        ({"max_width": 640, "max_height": 300}, ErrorCode.INPUT_TOO_LARGE),
        ({"max_source_bytes": 1000}, ErrorCode.INPUT_TOO_LARGE),
    ],
    ids=["duration", "width", "height", "bytes"],
)
def test_limits_refuse_before_encoding(limits, code, small_clip, work_dir):
    error = _fail(_copy_in(small_clip, work_dir), work_dir, **limits)
    assert (error.code, error.retryable) == (code, False)


def test_missing_source_and_source_outside_the_work_folder(small_clip, work_dir):
    assert _fail(work_dir / "gone.mp4", work_dir).code == ErrorCode.SOURCE_MISSING
    # A link out of the work folder is the outside file, whatever its name says.
    os.symlink(small_clip, work_dir / "source.mp4")
    assert _fail(work_dir / "source.mp4", work_dir).code == ErrorCode.INTERNAL_ERROR
    assert stat.S_ISLNK(os.lstat(work_dir / "source.mp4").st_mode)
    # Inside the output folder it would be deleted before the encode reads it.
    inside_out = _copy_in(small_clip, work_dir / "out")
    with pytest.raises(VideoProcessingError) as caught:
        FfmpegTranscoder().transcode(inside_out, work_dir, lambda *_: None, lambda: None)
    assert caught.value.code == ErrorCode.INTERNAL_ERROR
    assert inside_out.is_file()


def _frames_then_a_gap(path: Path, *quality: str) -> Path:
    """One second of picture, a two-hour jump in the timestamps, one more second: a file that
    declares 7202 s and holds 50 frames."""
    from tests.media import run_ffmpeg

    source = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2"]
    jump = ["-vf", "setpts='if(gte(N,25),PTS+2*3600/TB,PTS)'", "-fps_mode", "passthrough"]
    run_ffmpeg([*source, *jump, "-c:v", "libx264", "-preset", "ultrafast", *quality, str(path)])
    return path


def test_a_small_file_declaring_hours_is_refused_at_once(work_dir):
    # Before: ffmpeg invented two hours of duplicate frames, about 40 minutes of CPU for
    # a file of a few hundred KB, progress stuck at 0 %.
    upload = _frames_then_a_gap(work_dir / "source.mp4", "-crf", "40")
    err = _fail(upload, work_dir)
    assert (err.code, err.retryable) == (ErrorCode.IMPLAUSIBLE_DURATION, False)
    assert "declares 7202 s" in err.message


def test_a_gap_of_hours_costs_only_the_frames_the_file_holds(work_dir):
    # Enough bytes to pass the probe's check: the encode itself must not fill the gap.
    upload = _frames_then_a_gap(work_dir / "source.mp4", "-qp", "0")
    out = FfmpegTranscoder().transcode(upload, work_dir, lambda *_: None, lambda: None)
    counted = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0"),
            *("-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"),
            str(out.output_dir / "360p" / "index.m3u8"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert int(counted.stdout.split()[0]) == 50  # not 7202 s x 25 fps
    assert out.probe.duration_seconds > 7200
