"""Test media made on the spot with ffmpeg's lavfi sources: never downloaded, always tiny.

Clip helpers run the real ffmpeg binary and return the path they wrote. Also here: crafted
hostile uploads (HLS playlist, concat list), `processes_in(folder)` / `is_running(pid)` to
prove no ffmpeg is left behind, `FileOpenWatch` (inotify) to prove a file was never opened,
and `paced_ffmpeg` for tests that watch an encode midway.
"""

from __future__ import annotations

import ctypes
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

# Fast enough for 2 shared cores; the quality of test clips does not matter.
X264_PRESET = "ultrafast"
# Container -> (muxer name, audio codec it accepts with libx264 video).
CONTAINERS: dict[str, tuple[str, str]] = {
    "mp4": ("mp4", "aac"),
    "mov": ("mov", "aac"),
    "mkv": ("matroska", "aac"),
    "webm": ("webm", "libopus"),
    "ts": ("mpegts", "aac"),
    "avi": ("avi", "mp3"),
    "flv": ("flv", "aac"),
}


def paced_ffmpeg(folder: Path, speed: float) -> Path:
    """An `ffmpeg` in `folder` that reads its input at most `speed` times real time (ffmpeg's
    `-readrate`), then does exactly what the real one does; returns its path.

    For tests that watch an encode midway (a percent between 0 and 100, a lease renewed, a
    worker killed or frozen in the middle): on an idle machine a 12 s clip encodes in about a
    second, so the encode is made to last at least `seconds / speed` instead of hoping it does.
    Put `folder` first on a worker's PATH (`paced_path`) or pass the path as `ffmpeg_bin`.
    """
    real = shutil.which("ffmpeg")
    assert real, "ffmpeg is not installed (make ffmpeg)"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "ffmpeg"
    # -readrate applies to the first input, which follows: the commands start with its options.
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(real)} -readrate {speed:g} "$@"\n')
    script.chmod(0o755)
    return script


def paced_path(folder: Path, speed: float) -> str:
    """A PATH whose `ffmpeg` is `paced_ffmpeg(folder, speed)` (ffprobe and the rest unchanged)."""
    return f"{paced_ffmpeg(folder, speed).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def run_ffmpeg(args: list[str], *, cwd: Path | None = None) -> None:
    """Run ffmpeg quietly; raise with its stderr when it fails."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")


def make_clip(
    path: Path,
    width: int = 320,
    height: int = 180,
    seconds: float = 2.0,
    *,
    audio: bool = True,
    fps: int = 25,
    container: str | None = None,
    tone_hz: int = 440,
    faststart: bool = False,
    rotate: int = 0,
) -> Path:
    """Write a testsrc2 (+ sine tone) clip; the container follows the suffix unless given.

    `container` is a key of CONTAINERS (mp4, mov, mkv, webm, ts, avi, flv). With mp4/mov the
    moov atom is at the end unless `faststart` is set, which is what a truncated-upload
    test wants. `rotate` (mp4/mov) adds a display rotation in degrees, as a phone records a
    portrait video: coded landscape, shown turned.
    """
    path = Path(path)
    key = container or path.suffix.lstrip(".").lower() or "mp4"
    muxer, audio_codec = CONTAINERS[key]
    if key == "webm":
        video = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]
    else:
        video = ["-c:v", "libx264", "-preset", X264_PRESET, "-pix_fmt", "yuv420p"]
    args = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        tone = f"sine=frequency={tone_hz}:sample_rate=48000:duration={seconds}"
        args += ["-f", "lavfi", "-i", tone]
    args += video
    if audio:
        args += ["-c:a", audio_codec, "-ac", "2", "-b:a", "96k"]
    if faststart and key in ("mp4", "mov"):
        args += ["-movflags", "+faststart"]
    args += ["-shortest", "-f", muxer, str(path)]
    run_ffmpeg(args)
    if rotate:
        turned = path.with_name(f"rotated-{path.name}")
        copy = ["-i", str(path), "-map", "0", "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}"]
        run_ffmpeg([*copy, "-f", muxer, str(turned)])
        turned.replace(path)
    return path


def make_png(path: Path, width: int = 320, height: int = 180) -> Path:
    """Write a single PNG frame (an image, not a video) at `path`, whatever its suffix."""
    source = f"testsrc2=size={width}x{height}:rate=1"
    frame = ["-frames:v", "1", "-c:v", "png", "-f", "image2", "-update", "1"]
    run_ffmpeg(["-f", "lavfi", "-i", source, *frame, str(path)])
    return path


def make_audio_only(path: Path, seconds: float = 2.0) -> Path:
    """Write an mp4 (m4a) that holds a sine tone and no video stream."""
    tone = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    run_ffmpeg(["-f", "lavfi", "-i", tone, "-c:a", "aac", "-f", "mp4", str(path)])
    return path


def truncate_copy(source: Path, dest: Path, fraction: float) -> Path:
    """Copy the first `fraction` of `source`'s bytes to `dest` (a cut-off upload)."""
    data = Path(source).read_bytes()
    Path(dest).write_bytes(data[: max(1, int(len(data) * fraction))])
    return Path(dest)


def ffprobe_json(path: Path, *extra: str) -> dict:
    """ffprobe's JSON (format + streams) for a file the test itself made."""
    cmd = ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", *extra]
    cmd.append(str(path))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def make_hls_playlist(path: Path, target: Path, seconds: float = 2.0) -> Path:
    """Write an HLS media playlist at `path` (any suffix) whose one segment is `target`.

    This is the hostile upload: a demuxer that follows it opens `target`, wherever it is.
    """
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{int(seconds) + 1}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        f"#EXTINF:{seconds:.3f},",
        f"file:{Path(target).resolve()}",
        "#EXT-X-ENDLIST",
    ]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def make_concat_list(path: Path, target: Path) -> Path:
    """Write an ffconcat script at `path` (any suffix) that names `target` by absolute path."""
    Path(path).write_text(f"ffconcat version 1.0\nfile '{Path(target).resolve()}'\n")
    return Path(path)


def processes_in(folder: Path) -> list[int]:
    """Live (non-zombie) processes whose working directory is `folder`: a job's ffmpeg."""
    target = os.path.realpath(folder)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") == target and is_running(int(entry)):
                found.append(int(entry))
        except OSError:  # gone meanwhile, or not ours to inspect
            continue
    return found


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a killed child its parent has not reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class FileOpenWatch:
    """Records every open or read of one file (Linux inotify), whoever does it.

    with FileOpenWatch(path) as watch: ...; then watch.touched says whether it was opened.
    """

    _IN_ACCESS, _IN_OPEN = 0x001, 0x020

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.touched = False
        self._fd = -1

    def __enter__(self) -> FileOpenWatch:
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = self._IN_ACCESS | self._IN_OPEN
        if libc.inotify_add_watch(self._fd, os.fsencode(self.path), mask) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {self.path}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.touched = bool(os.read(self._fd, 65536))
        except BlockingIOError:
            self.touched = False
        finally:
            os.close(self._fd)


def decodes(master: Path) -> subprocess.CompletedProcess:
    """Decode an HLS master playlist end to end (every variant it names), as a player would."""
    cmd = ["ffmpeg", "-v", "error", "-protocol_whitelist", "file,hls", "-i", str(master)]
    return subprocess.run(
        [*cmd, "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
