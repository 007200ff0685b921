"""Recovery time after a worker dies: SIGKILL a worker in the middle of a job and time how long
until another worker has claimed the video again (the row's lease_token goes from 1 to 2).

Real processes throughout: workers (`bench.fake_worker`: the real worker with the
FakeTranscoder, so a job lasts as long as we like), `manage.py reconcile_video_processing
--loop R`, moto's SQS server, PostgreSQL (database `bench_recovery`, recreated and migrated)
and Redis database 3.

Scenarios:
- scaled: VIDEO_HEARTBEAT_TTL=3, VIDEO_LEASE_SECONDS=4, reconcile every 1 s (what the e2e
  tests use), several runs;
- default: the shipped settings, VIDEO_HEARTBEAT_TTL=60 and VIDEO_LEASE_SECONDS=120, with
  reconcile every 30 s (`--interval`), one run by default (it takes one to two minutes);
- visibility only: no reconcile, VIDEO_FAST_ACK=0, VIDEO_VISIBILITY_TIMEOUT=6: what relying
  on the SQS message coming back does (it comes back, and the claim skips the row, which is
  still PROCESSING: the video is never recovered).

The heartbeat is refreshed every TTL/3, and the lease renewed with it, so after a kill the
heartbeat key vanishes within (2/3 TTL, TTL] and the lease expires within (lease - TTL/3,
lease]. Reconcile reclaims at its first pass after the earlier of the two, and the message
it sends is received at once by an idle worker:

    recovery ~ min(heartbeat TTL, lease) - [0, TTL/3) + [0, reconcile interval) + pickup

    .venv/bin/python -m bench.recovery_time [--scaled-runs 3] [--default-runs 1]
        [--interval 30] [--skip-default] [--skip-visibility]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from academy.config import DEVELOPMENT_ENV, load_config
from bench.harness import FAKE_WORKER, ProcessLog, wait_until
from bench.support import BenchEnv, bench_env, enqueue, make_videos

WORKER = FAKE_WORKER
RECONCILE = [sys.executable, "manage.py", "reconcile_video_processing", "--loop"]
# The victim's job: far longer than any measurement, so only the kill ends it.
VICTIM_JOB_SECONDS = 3600
# The survivor's job: short, its length is not part of what is measured.
SURVIVOR_JOB_SECONDS = 1


@dataclass
class Scenario:
    name: str
    heartbeat_ttl: int
    lease_seconds: int
    interval: float | None  # reconcile --loop interval; None: no reconcile at all
    visibility_timeout: int = 300

    @property
    def predicted(self) -> tuple[float, float]:
        """The window the formula gives, before SQS pickup and process overheads."""
        if self.interval is None:
            return (float("inf"), float("inf"))
        first = min(self.heartbeat_ttl, self.lease_seconds)
        return (first - self.heartbeat_ttl / 3.0, first + self.interval)

    def env(self, bench: BenchEnv, **extra: object) -> dict[str, str]:
        return bench.env(
            VIDEO_HEARTBEAT_TTL=self.heartbeat_ttl,
            VIDEO_LEASE_SECONDS=self.lease_seconds,
            VIDEO_VISIBILITY_TIMEOUT=self.visibility_timeout,
            VIDEO_FAST_ACK=0,
            VIDEO_SHUTDOWN_GRACE_SECONDS=1,
            **extra,
        )


@dataclass
class Run:
    recovered_s: float | None  # kill -> claimed again; None: not within the wait
    reclaimed_s: float | None  # kill -> reconcile's pass that reclaimed it
    message_back_s: float | None = None  # visibility only: kill -> the old message returned


def _stamp(event: dict) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def _lease_token(video_id: int) -> int:
    from apps.support.video.models import Video

    return Video.objects.values_list("lease_token", flat=True).get(pk=video_id)


def run_once(bench: BenchEnv, scenario: Scenario, logs: Path, n: int) -> Run:
    bench.new_queue(visibility_timeout=scenario.visibility_timeout)
    [video] = make_videos(bench, 1)
    enqueue(bench, [video])
    tag = f"{scenario.name}-{n}"
    started: list[ProcessLog] = []

    def spawn(name: str, args: list[str], **extra: object) -> ProcessLog:
        proc = ProcessLog(f"{tag}-{name}", args, scenario.env(bench, **extra), logs)
        started.append(proc)
        return proc

    try:
        victim = spawn("victim", WORKER, FAKE_TRANSCODE_SECONDS=VICTIM_JOB_SECONDS)
        victim.wait_event("VIDEO_CLAIMED", timeout=60)
        survivor = spawn("survivor", WORKER, FAKE_TRANSCODE_SECONDS=SURVIVOR_JOB_SECONDS)
        survivor.wait_event("WORKER_STARTED", timeout=60)
        reconcile = None
        if scenario.interval is not None:
            reconcile = spawn("reconcile", [*RECONCILE, str(scenario.interval)])
            reconcile.wait_event("RECONCILE_TICK", timeout=60)
        # Kill at a random point of the heartbeat cycle, as a crash would.
        time.sleep(random.uniform(0, scenario.heartbeat_ttl / 3.0))
        os.killpg(victim.pid, signal.SIGKILL)
        killed_mono, killed_wall = time.monotonic(), time.time()

        if scenario.interval is None:  # long enough for the message to come back, twice
            patience = 3.0 * scenario.visibility_timeout
        else:
            patience = 2.0 * scenario.predicted[1] + 30
        try:
            wait_until(lambda: _lease_token(video.pk) >= 2, patience, interval=0.05)
            recovered = time.monotonic() - killed_mono
        except AssertionError:
            recovered = None
        reclaimed = message_back = None
        if reconcile is not None:
            ticks = [e for e in reconcile.events("RECONCILE_TICK") if video.pk in e["reclaimed"]]
            reclaimed = _stamp(ticks[0]) - killed_wall if ticks else None
        skipped = survivor.events("VIDEO_CLAIM_SKIPPED")
        if skipped:
            message_back = _stamp(skipped[0]) - killed_wall
        return Run(recovered, reclaimed, message_back)
    finally:
        for proc in started:
            proc.kill()


def _fmt(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "never"
    text = f"{statistics.median(got):.1f}"
    if len(got) > 1:
        text += f" ({min(got):.1f}-{max(got):.1f})"
    if len(got) < len(values):
        text += f", {len(values) - len(got)} never"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scaled-runs", type=int, default=3)
    parser.add_argument("--default-runs", type=int, default=1)
    parser.add_argument(
        "--interval", type=float, default=30.0, help="reconcile --loop seconds, default settings"
    )
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-visibility", action="store_true")
    args = parser.parse_args()

    defaults = load_config(DEVELOPMENT_ENV)
    scenarios: list[tuple[Scenario, int]] = [(Scenario("scaled", 3, 4, 1.0), args.scaled_runs)]
    if not args.skip_default:
        default = Scenario(
            "default",
            defaults.heartbeat_ttl,
            defaults.lease_seconds,
            args.interval,
            defaults.visibility_timeout,
        )
        scenarios.append((default, args.default_runs))
    if not args.skip_visibility:
        scenarios.append((Scenario("visibility-only", 3, 4, None, visibility_timeout=6), 1))

    logs = Path(tempfile.mkdtemp(prefix="bench-recovery-logs-"))
    results: list[tuple[Scenario, list[Run]]] = []
    with bench_env("recovery", redis_db=3) as bench:
        from apps.support.video.models import Tenant

        # A random tenant id: Redis keys carry it, and other benchmarks share Redis db 3.
        tid = random.randrange(10**6, 10**9)
        Tenant.objects.create(pk=tid, slug="bench", name="Bench")
        for scenario, runs in scenarios:
            done = []
            for n in range(runs):
                done.append(run_once(bench, scenario, logs, n))
                print(f"  {scenario.name} run {n + 1}/{runs}: {done[-1]}", file=sys.stderr)
            results.append((scenario, done))

    print(
        "| settings | heartbeat TTL s | lease s | reconcile every s | runs "
        "| kill -> reclaimed s | kill -> claimed again s | formula window s "
        "| SQS visibility timeout alone |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for scenario, runs in results:
        low, high = scenario.predicted
        if scenario.interval is None:
            window = "-"
            back = _fmt([r.message_back_s for r in runs])
            alone = f"message back after {back} s, claim skipped: never"
        else:
            window = f"{low:.0f}-{high:.0f} + pickup"
            alone = f">= {scenario.visibility_timeout} s (*)"
        print(
            f"| {scenario.name} | {scenario.heartbeat_ttl} | {scenario.lease_seconds} "
            f"| {scenario.interval or '-'} | {len(runs)} "
            f"| {_fmt([r.reclaimed_s for r in runs])} | {_fmt([r.recovered_s for r in runs])} "
            f"| {window} | {alone} |"
        )
    print(
        "\n(*) The killed worker's message comes back only after VIDEO_VISIBILITY_TIMEOUT (it was"
        " being extended until the kill), and then its claim skips the row, still PROCESSING:"
        " without reconcile the video is never recovered (the visibility-only row), and with"
        " VIDEO_FAST_ACK=1 there is no message to come back at all."
    )
    print(f"\nlogs: {logs}", file=sys.stderr)


if __name__ == "__main__":
    main()
