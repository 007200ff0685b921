"""Single-pass HLS ladder (decode once, split) vs one ffmpeg process per rendition.

MediaCMS and PeerTube encode each resolution in its own ffmpeg process, so the source is
decoded (and the audio encoded) once per rendition. Both variants here use the adapter's own
command builder and x264 settings; the per-rendition variant is the same command with a
one-rung ladder, run once per rung, one after the other. Runs alternate A B A B so load
from anything else on the machine falls on both.

    .venv/bin/python -m bench.ladder_single_vs_per_rendition [--seconds 20] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.machine import describe_machine
from src.infrastructure.media.ffmpeg_command import ladder_command
from src.infrastructure.media.ladder import DEFAULT_LADDER, Rendition, plan_ladder

WIDTH, HEIGHT, FPS = 1920, 1080, 25
SEGMENT_SECONDS = 6
PRESET = "veryfast"


def make_source(path: Path, seconds: int) -> None:
    """A 1080p testsrc2 + sine upload, encoded like a phone/camera file (High profile, B-frames)."""
    video = f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={seconds}"
    audio = f"sine=frequency=440:sample_rate=48000:duration={seconds}"
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio),
            *("-c:v", "libx264", "-preset", "veryfast", "-b:v", "8M", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "128k", "-shortest", str(path)),
        ],
        check=True,
    )


def ladder_cmd(
    renditions: list[Rendition], thumbnail: tuple[float, int, int] | None = None
) -> list[str]:
    """The adapter's ladder command on the benchmark's source (worker_overhead reuses it)."""
    return ladder_command(
        ffmpeg_bin="ffmpeg",
        source="source.mp4",
        demuxer="mov",
        video_index=0,
        audio_index=1,
        fps=FPS,
        renditions=renditions,
        segment_seconds=SEGMENT_SECONDS,
        preset=PRESET,
        thumbnail=thumbnail,
    )


def _fresh_job(root: Path, source: Path) -> Path:
    job = root / "job"
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir()
    os.link(source, job / "source.mp4")
    return job


def single_pass(root: Path, source: Path, ladder: list[Rendition]) -> None:
    job = _fresh_job(root, source)
    subprocess.run(ladder_cmd(ladder), cwd=job, stdout=subprocess.DEVNULL, check=True)


def per_rendition(root: Path, source: Path, ladder: list[Rendition]) -> None:
    job = _fresh_job(root, source)
    for rendition in ladder:
        subprocess.run(ladder_cmd([rendition]), cwd=job, stdout=subprocess.DEVNULL, check=True)


def measure(run: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the waited-for children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="source duration")
    parser.add_argument("--runs", type=int, default=2, help="runs of each variant (alternated)")
    args = parser.parse_args()

    ladder = plan_ladder(WIDTH, HEIGHT, DEFAULT_LADDER)
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True)
    print(describe_machine())
    print(f"ffmpeg: {version.stdout.splitlines()[0]}")
    print(
        f"source: {WIDTH}x{HEIGHT} {FPS} fps testsrc2 + sine, {args.seconds} s; ladder: "
        + ", ".join(f"{r.name} CRF {r.crf:g} cap {r.maxrate_kbps}k" for r in ladder)
        + f"; libx264 {PRESET}; AAC once per process (one audio rendition each); "
        + f"{SEGMENT_SECONDS} s HLS segments"
    )
    variants = {"A single pass": single_pass, "B per rendition": per_rendition}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="bench-ladder-") as tmp:
        root = Path(tmp)
        source = root / "source.mp4"
        make_source(source, args.seconds)
        for run in range(args.runs):
            for name, variant in variants.items():
                wall, cpu = measure(lambda v=variant: v(root, source, ladder))
                results[name].append((wall, cpu))
                print(f"run {run + 1} {name}: wall {wall:.1f} s, cpu {cpu:.1f} s", flush=True)

    def median(name: str, i: int) -> float:
        return statistics.median(sample[i] for sample in results[name])

    a, b = variants
    print()
    print("| variant | runs | wall s (median) | CPU s (median) | wall / A | CPU / A |")
    print("|---|---|---|---|---|---|")
    for name in variants:
        print(
            f"| {name} | {len(results[name])} | {median(name, 0):.1f} | {median(name, 1):.1f} "
            f"| {median(name, 0) / median(a, 0):.2f} | {median(name, 1) / median(a, 1):.2f} |"
        )
    print()
    print(
        f"per rendition / single pass: wall x{median(b, 0) / median(a, 0):.2f}, "
        f"CPU x{median(b, 1) / median(a, 1):.2f}"
    )


if __name__ == "__main__":
    main()
