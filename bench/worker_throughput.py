"""Worker throughput and per-job overhead with the FakeTranscoder (no encoding at all), so what
is measured is the worker's own work: receive, claim, heartbeat/progress, store, complete,
acknowledge. Fast ack off and on run alternately in one invocation.

    .venv/bin/python -m bench.worker_throughput [--messages 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from bench.support import ROOT, bench_env, enqueue, make_videos, read_events


def run_once(env, messages: int, fast_ack: str) -> dict:
    env.new_queue()
    videos = make_videos(env, messages)
    log = env.storage_root.parent / f"worker-{fast_ack}-{time.monotonic_ns()}.log"
    enqueue(env, videos)
    with open(log, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.fake_worker", "--max-messages", str(messages)],
            cwd=ROOT,
            env=env.env(VIDEO_FAST_ACK=fast_ack, FAKE_TRANSCODE_SECONDS="0"),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
        wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"worker failed: see {log}")
    started = read_events(log, "WORKER_STARTED")[0]["timestamp"]
    done = read_events(log, "SQS_JOB_COMPLETED")
    assert len(done) == messages, (len(done), messages)
    from datetime import datetime

    first = datetime.fromisoformat(started)
    last = datetime.fromisoformat(done[-1]["timestamp"])
    loop_seconds = (last - first).total_seconds()
    return {
        "fast_ack": fast_ack,
        "wall_s": wall,
        "loop_s": loop_seconds,
        "msgs_per_s": messages / loop_seconds,
        "job_ms": statistics.median(e["total_ms"] for e in done),
        "claim_ms": statistics.median(e["claim_ms"] for e in done),
        "upload_ms": statistics.median(e.get("upload_ms", 0) for e in done),
        "complete_ms": statistics.median(e.get("complete_ms", 0) for e in done),
        "per_msg_ms": 1000 * loop_seconds / messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with bench_env("throughput") as env:
        for _ in range(args.rounds):
            for mode in ("0", "1"):
                rows.append(run_once(env, args.messages, mode))
    print(
        f"\n{args.messages} messages, one worker process, FakeTranscoder (0 s), moto SQS on loopback"
    )
    print(
        f"{'fast_ack':>8} {'msgs/s':>8} {'ms/msg':>8} {'job p50':>8} {'claim':>6} {'upload':>7} {'complete':>8}"
    )
    for r in rows:
        print(
            f"{r['fast_ack']:>8} {r['msgs_per_s']:>8.1f} {r['per_msg_ms']:>8.1f} "
            f"{r['job_ms']:>8.1f} {r['claim_ms']:>6.1f} {r['upload_ms']:>7.1f} {r['complete_ms']:>8.1f}"
        )
    by = {m: statistics.median(r["per_msg_ms"] for r in rows if r["fast_ack"] == m) for m in "01"}
    print(f"\nper-message cost, fast ack on / off: {by['1'] / by['0']:.2f}")


if __name__ == "__main__":
    main()
