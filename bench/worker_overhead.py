"""The worker's overhead over the bare ffmpeg command on the same job, and the peak memory of
a worker (and of its ffmpeg) during that job.

A: the adapter's own one-pass ladder command (thumbnail branch included), run by hand on
   the source (no probe, no storage, no database, no SQS).
B: the real worker (`sqs_main --max-messages 1`) processing one message for the same source:
   claim, download, probe, the same encode, thumbnail, store, fenced complete, delete.
Runs alternate A B A B; the job's time is the worker's own `total_ms` (receipt to
acknowledgement), so the one-off interpreter start is reported apart.

    .venv/bin/python -m bench.worker_overhead [--seconds 20] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.ladder_single_vs_per_rendition import (
    HEIGHT,
    SEGMENT_SECONDS,
    WIDTH,
    ladder_cmd,
    make_source,
)
from bench.support import ROOT, bench_env, enqueue, make_videos, read_events
from src.infrastructure.media.ffmpeg_command import thumbnail_size
from src.infrastructure.media.ladder import plan_ladder


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "PPid"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _descendants(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _status(int(entry.name)).get("PPid") == pid:
            kids.append(int(entry.name))
    return kids + [d for k in kids for d in _descendants(k)]


class PeakMemory(threading.Thread):
    """Samples peak RSS (VmHWM) of a process and, separately, of its descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.worker_kb = 0
        self.children_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.worker_kb = max(self.worker_kb, _status(self.pid).get("VmHWM", 0))
            kids = sum(_status(k).get("VmRSS", 0) for k in _descendants(self.pid))
            self.children_kb = max(self.children_kb, kids)


def bare(source: Path, seconds: int) -> tuple[float, float]:
    """The worker's own ladder command (thumbnail branch included), run by hand: wall, CPU s."""
    job = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    try:
        shutil.copy(source, job / "source.mp4")
        (job / "out").mkdir()
        cmd = ladder_cmd(
            plan_ladder(WIDTH, HEIGHT), (seconds * 0.1, *thumbnail_size(WIDTH, HEIGHT))
        )
        t = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=job, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t
        if status != 0:
            raise SystemExit(f"bare ffmpeg failed: {proc.stderr.read()[-500:]}")
        return wall, usage.ru_utime + usage.ru_stime
    finally:
        shutil.rmtree(job, ignore_errors=True)


def worker(env, source: Path) -> dict:
    videos = make_videos(env, 1, source)
    enqueue(env, videos)
    log = env.storage_root.parent / f"worker-{time.monotonic_ns()}.log"
    with open(log, "w") as out:
        t = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "apps.worker.video_worker.sqs_main", "--max-messages", "1"],
            cwd=ROOT,
            env=env.env(VIDEO_HLS_SEGMENT_SECONDS=SEGMENT_SECONDS),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        sampler = PeakMemory(proc.pid)
        sampler.start()
        _, _status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(_status)
        wall = time.monotonic() - t
        sampler.stop.set()
        sampler.join()
    done = read_events(log, "SQS_JOB_COMPLETED")
    if proc.returncode != 0 or not done:
        raise SystemExit(f"worker failed, see {log}")
    return {
        "job_s": done[0]["total_ms"] / 1000,
        "transcode_s": done[0].get("transcode_ms", 0) / 1000,
        "process_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "worker_mb": sampler.worker_kb / 1024,
        "ffmpeg_mb": sampler.children_kb / 1024,
        "timings": {k: v for k, v in done[0].items() if k.endswith("_ms")},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with bench_env("overhead") as env:
        source = env.storage_root.parent / "source.mp4"
        make_source(source, args.seconds)
        bare_runs, worker_runs = [], []
        for _ in range(args.runs):
            bare_runs.append(bare(source, args.seconds))
            worker_runs.append(worker(env, source))
    a = statistics.median(w for w, _ in bare_runs)
    b = statistics.median(r["job_s"] for r in worker_runs)
    a_cpu = statistics.median(c for _, c in bare_runs)
    b_cpu = statistics.median(r["cpu_s"] for r in worker_runs)
    print(
        f"\nsource: {WIDTH}x{HEIGHT}, {args.seconds} s, ladder {[r.name for r in plan_ladder(WIDTH, HEIGHT)]}"
    )
    print(
        f"{'run':>4} {'bare wall s':>12} {'bare CPU s':>11} {'job wall s':>11} {'ffmpeg in job s':>16} {'process s':>10} {'process CPU s':>14} {'worker MB':>10} {'ffmpeg MB':>10}"
    )
    for i, ((x, c), r) in enumerate(zip(bare_runs, worker_runs, strict=True)):
        print(
            f"{i + 1:>4} {x:>12.2f} {c:>11.2f} {r['job_s']:>11.2f} {r['transcode_s']:>16.2f} {r['process_s']:>10.2f} {r['cpu_s']:>14.2f} {r['worker_mb']:>10.1f} {r['ffmpeg_mb']:>10.1f}"
        )
    print(
        f"\nworker job wall / bare ffmpeg wall (median): {b / a:.3f}  -> overhead {100 * (b / a - 1):+.1f}%"
    )
    print(
        f"worker process CPU (python + ffprobe + ffmpeg, start-up included) / bare ffmpeg CPU: {b_cpu / a_cpu:.3f}  -> overhead {100 * (b_cpu / a_cpu - 1):+.1f}%"
    )
    print(f"stage timings of the last job (ms): {worker_runs[-1]['timings']}")
    print(
        f"peak RSS: worker process {max(r['worker_mb'] for r in worker_runs):.1f} MB, its ffmpeg {max(r['ffmpeg_mb'] for r in worker_runs):.1f} MB"
    )


if __name__ == "__main__":
    main()
