"""The ffmpeg subprocess under control: stall kill, cancel, exit codes, what every call passes."""

from __future__ import annotations

import re
import shlex
import shutil
import time
from pathlib import Path

import pytest

from src.application.domain import ErrorCode, JobStopped, StopReason, VideoProcessingError
from src.infrastructure.media.ffmpeg_transcoder import FfmpegTranscoder
from src.infrastructure.media.input_guard import FORMAT_WHITELIST
from tests.media import is_running, make_clip, paced_ffmpeg, processes_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", 320, 180, seconds=1)


@pytest.fixture
def work_dir(tmp_path: Path, clip: Path) -> Path:
    path = tmp_path / "job"
    path.mkdir()
    shutil.copy(clip, path / "source.mp4")
    return path


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def _never(*_args) -> None:
    return None


def test_stalled_ffmpeg_group_is_killed_and_reported_retryable(tmp_path, work_dir):
    # The real ffmpeg starts as a child of a wrapper and is frozen: no progress, ever.
    pid_file = tmp_path / "ffmpeg.pid"
    real = shlex.quote(shutil.which("ffmpeg"))
    frozen = _script(
        tmp_path / "frozen-ffmpeg",
        f'{real} "$@" & child=$!\necho $child > {pid_file}\nkill -STOP $child\nwait $child\n',
    )
    transcoder = FfmpegTranscoder(ffmpeg_bin=frozen, stall_seconds=1, poll_interval=0.1)
    started = time.monotonic()
    with pytest.raises(VideoProcessingError) as caught:
        transcoder.transcode(work_dir / "source.mp4", work_dir, _never, lambda: None)
    assert (caught.value.code, caught.value.retryable) == (ErrorCode.TRANSCODE_STALLED, True)
    # 1 s of silence, then SIGTERM (ignored while stopped), 2 s grace, SIGKILL.
    assert time.monotonic() - started < 8
    ffmpeg_pid = int(pid_file.read_text())
    # SIGKILL is delivered asynchronously: allow the kernel a moment on a loaded machine.
    deadline = time.monotonic() + 3
    while is_running(ffmpeg_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(ffmpeg_pid)
    assert processes_in(work_dir) == []


def test_cancel_mid_encode_kills_ffmpeg_and_raises_job_cancelled(tmp_path):
    work_dir = tmp_path / "job"
    work_dir.mkdir()
    source = make_clip(work_dir / "source.mp4", 1280, 720, seconds=4)
    seen: dict[str, object] = {}

    def on_progress(percent: float, step: str) -> None:
        if step == "transcode" and 0 < percent < 100 and "pids" not in seen:
            seen["pids"] = processes_in(work_dir)
            seen["at"] = time.monotonic()

    def stop_reason() -> str | None:
        return StopReason.CANCELED if "pids" in seen else None

    # At most twice real time: the encode lasts 2 s or more, so it is caught midway.
    paced = paced_ffmpeg(tmp_path / "paced", 2.0)
    transcoder = FfmpegTranscoder(poll_interval=0.05, ffmpeg_bin=str(paced))
    with pytest.raises(JobStopped) as caught:
        transcoder.transcode(source, work_dir, on_progress, stop_reason)
    assert caught.value.reason == StopReason.CANCELED
    assert seen["pids"], "ffmpeg was running in the work folder when the cancel came"
    assert time.monotonic() - seen["at"] < 3
    assert not any(is_running(pid) for pid in seen["pids"])
    assert processes_in(work_dir) == []


def test_stop_before_start_runs_nothing(work_dir):
    with pytest.raises(JobStopped) as caught:
        FfmpegTranscoder().transcode(
            work_dir / "source.mp4", work_dir, _never, lambda: StopReason.SHUTDOWN
        )
    assert caught.value.reason == StopReason.SHUTDOWN
    assert not (work_dir / "out").exists()


@pytest.mark.parametrize(
    ("body", "retryable"),
    [
        ("echo 'Error while opening encoder for output stream' >&2\nexit 1\n", False),
        ("kill -KILL $$\n", True),
    ],
    ids=["exit-1", "killed"],
)
def test_ffmpeg_failure_is_transcode_failed(body, retryable, tmp_path, work_dir):
    broken = _script(tmp_path / "broken-ffmpeg", body)
    with pytest.raises(VideoProcessingError) as caught:
        FfmpegTranscoder(ffmpeg_bin=broken).transcode(
            work_dir / "source.mp4", work_dir, _never, lambda: None
        )
    assert (caught.value.code, caught.value.retryable) == (ErrorCode.TRANSCODE_FAILED, retryable)
    if not retryable:
        assert "Error while opening encoder" in caught.value.message


def test_missing_binary_is_an_internal_error_another_machine_may_not_have(tmp_path, work_dir):
    transcoder = FfmpegTranscoder(ffprobe_bin=str(tmp_path / "no-such-ffprobe"))
    with pytest.raises(VideoProcessingError) as caught:
        transcoder.transcode(work_dir / "source.mp4", work_dir, _never, lambda: None)
    assert (caught.value.code, caught.value.retryable) == (ErrorCode.INTERNAL_ERROR, True)


def test_every_call_is_whitelisted_forced_and_runs_in_the_work_folder(tmp_path, work_dir):
    log = tmp_path / "calls.log"
    wrappers = {}
    for name in ("ffmpeg", "ffprobe"):
        real = shlex.quote(shutil.which(name))
        wrappers[name] = _script(
            tmp_path / f"logged-{name}",
            f'printf "%s\\t%s\\n" "$(pwd)" "{name} $*" >> {log}\nexec {real} "$@"\n',
        )
    transcoder = FfmpegTranscoder(ffmpeg_bin=wrappers["ffmpeg"], ffprobe_bin=wrappers["ffprobe"])
    transcoder.transcode(work_dir / "source.mp4", work_dir, _never, lambda: None)

    calls = [line.split("\t") for line in log.read_text().splitlines()]
    names = [args.split()[0] for _, args in calls]
    # The content probe (a few frames) and the ladder, thumbnail included, in one pass.
    assert names.count("ffmpeg") == 2
    assert sum("edgedetect" in args for _, args in calls) == 1
    assert names.count("ffprobe") >= 1  # the upload
    for cwd, args in calls:
        assert cwd == str(work_dir.resolve())
        assert "-protocol_whitelist file " in args
        assert f"-format_whitelist {FORMAT_WHITELIST} " in args
        if "source.mp4" in args:
            assert " -i file:source.mp4" in args or args.endswith(" file:source.mp4")
        if args.startswith("ffmpeg"):
            assert "-f mov " in args  # the probed demuxer, never a second guess


def test_master_without_codecs_is_completed_from_the_segments(tmp_path, work_dir):
    # An ffmpeg that writes a master without RESOLUTION and CODECS (as 5.1 may, when it could
    # not read the codec parameters in time): the adapter probes the segments and fills them in.
    real = shlex.quote(shutil.which("ffmpeg"))
    stripping = _script(
        tmp_path / "ffmpeg-bare-master",
        f'{real} "$@" || exit $?\n'
        "if [ -f out/master.m3u8 ]; then\n"
        '  sed -i \'s/,RESOLUTION=[0-9x]*//; s/,CODECS="[^"]*"//\' out/master.m3u8\n'
        "fi\n",
    )
    output = FfmpegTranscoder(ffmpeg_bin=stripping).transcode(
        work_dir / "source.mp4", work_dir, _never, lambda: None
    )
    master = (output.output_dir / output.master_playlist).read_text()
    assert re.search(
        r'RESOLUTION=320x180,FRAME-RATE=25.000,CODECS="avc1\.64[0-9a-f]{4},mp4a\.40\.2"', master
    )


def test_the_child_dies_with_the_worker_that_started_it(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from bench.harness import ROOT, wait_until

    # A stand-in worker runs a quiet child (no output to fail on) under run_process, then is
    # killed with SIGKILL: no cleanup code of ours runs. Before: the child, in its own
    # session, lived on for its whole 300 s.
    worker_code = (
        "from pathlib import Path\n"
        "from src.infrastructure.media.process_runner import run_process\n"
        f"run_process(['sleep', '300'], cwd=Path({str(tmp_path)!r}),"
        " stop_reason=lambda: None, stall_seconds=600)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", worker_code], cwd=ROOT)
    try:
        [child] = wait_until(lambda: processes_in(tmp_path), 30, what="the child to start")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        wait_until(lambda: not is_running(child), 10, what="the child to die with its worker")
    finally:
        worker.kill()
        for leftover in processes_in(tmp_path):  # only if the test failed
            os.kill(leftover, signal.SIGKILL)
