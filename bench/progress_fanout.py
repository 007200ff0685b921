"""Live-progress fan-out: many WebSocket clients following a few videos, on loopback.

A real server (`uvicorn academy.asgi:application`, one process, as `make serve` runs it) on
PostgreSQL (database `bench_fanout`, recreated and migrated) and Redis; N clients (500 by
default) connect to `ws://…/ws/v1/videos/{id}?token=…` spread evenly over V videos (20),
each video PROCESSING. Once every client has its `connected` message, each video's progress
is published the way a worker publishes it (RedisProgressAdapter.record_progress: the key and
the pub/sub event in one round trip), R times a second per video, videos spread evenly over
the second, for D seconds. Every event carries the moment it was recorded (`updated_at`);
a client notes when the matching `progress` message arrives.

Printed per rate, side by side: deliveries expected and received (every client must get
every update of its video), latency from publish to receipt (p50, p95, p99, max), the
server's resident memory (idle, with every client connected, at the end) and CPU seconds.
The goal is p95 <= 250 ms at the worker's real rate (one update a second per video).

    .venv/bin/python -m bench.progress_fanout [--clients 500] [--videos 20]
        [--rates 1,5] [--seconds 20]

Clients and publisher share the machine (and its cores) with the server: the figures are
for everything on one host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from bench.support import ROOT, bench_env, socket_port

GOAL_P95_MS = 250.0
END = "bench-end"  # the step of each video's last update: a client stops when it arrives
DRAIN_SECONDS = 120  # how long clients wait for updates still queued after the last publish
CONNECT_BATCH = 50  # clients opening at once


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the clients: separate processes, so that they neither share a GIL with the publisher
# nor with each other (reading 500 sockets in one Python process is slower than serving them).
async def _follow(url: str, connected: asyncio.Event, got: list) -> None:
    """Follow until the video's last update (step END) arrives."""
    from websockets.asyncio.client import connect

    async with connect(url, open_timeout=120, max_queue=None, ping_interval=None) as ws:
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            if message["type"] == "connected":
                connected.set()
            elif message["type"] == "progress" and message.get("updated_at"):
                sent = datetime.fromisoformat(message["updated_at"]).timestamp()
                got.append((message["percent"], (received - sent) * 1000))
                if message["step"] == END:
                    return


async def _client_process(urls: list[str]) -> None:
    """Open the connections (in batches), say READY, follow until every connection has its
    video's last update (or the time is up), then print what each received as one line."""
    connected = [asyncio.Event() for _ in urls]
    got: list[list] = [[] for _ in urls]
    tasks = []
    for i in range(0, len(urls), CONNECT_BATCH):
        batch = range(i, min(i + CONNECT_BATCH, len(urls)))
        tasks += [asyncio.ensure_future(_follow(urls[j], connected[j], got[j])) for j in batch]
        await asyncio.wait_for(asyncio.gather(*(connected[j].wait() for j in batch)), 300)
    print("READY", flush=True)
    _done, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS + float(sys.argv[-1]))
    for task in pending:  # counted as missing what they did not get
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(got), flush=True)


def publish(
    adapter, tenant_id: int, videos: list[int], rate: float, seconds: float, start: float
) -> dict[int, list[float]]:
    """The worker's own write, R times a second per video, spread over each period."""
    published: dict[int, list[float]] = {v: [] for v in videos}
    period = 1.0 / rate
    rounds = int(seconds * rate)
    for n in range(rounds):
        for index, video_id in enumerate(videos):
            due = start + n * period + index * period / len(videos)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            percent = round(0.1 * (n + 1), 1)  # distinct every round: none is deduplicated
            adapter.record_progress(tenant_id, video_id, percent, "transcode", "bench-worker")
            published[video_id].append(percent)
    for video_id in videos:
        adapter.record_progress(tenant_id, video_id, 100.0, END, "bench-worker")
        published[video_id].append(100.0)
    return published


def run_rate(
    base: str,
    tokens: dict[int, str],
    args,
    rate: float,
    server_pid: int,
    adapter,
    tenant_id: int,
) -> dict:
    videos = list(tokens)
    following = [videos[i % len(videos)] for i in range(args.clients)]
    urls = [f"{base}/ws/v1/videos/{v}?token={tokens[v]}" for v in following]
    idle_rss = rss_mb(server_pid)
    cpu_before = cpu_seconds(server_pid)
    opened = time.monotonic()
    shares = [urls[i :: args.client_processes] for i in range(args.client_processes)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.progress_fanout",
                "--client",
                json.dumps(share),
                str(args.seconds),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
    ]
    for proc in procs:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            raise SystemExit(f"a client process failed to connect: {line!r}")
    connect_seconds = time.monotonic() - opened
    connected_rss = rss_mb(server_pid)
    published = publish(adapter, tenant_id, videos, rate, args.seconds, time.monotonic() + 0.5)
    publish_end = time.monotonic()
    results = []
    for proc in procs:  # each ends once its clients have every last update
        out, _ = proc.communicate(timeout=DRAIN_SECONDS + args.seconds + 60)
        results.extend(json.loads(out.strip().splitlines()[-1]))
    drained_after = time.monotonic() - publish_end
    end_rss = rss_mb(server_pid)
    cpu = cpu_seconds(server_pid) - cpu_before
    followed = [v for share in [following[i :: args.client_processes] for i in range(
        args.client_processes)] for v in share]  # fmt: skip
    expected = received = complete = 0
    latencies = []
    for video_id, got in zip(followed, results, strict=True):
        wanted = set(published[video_id])
        seen = {percent for percent, _ms in got}
        expected += len(wanted)
        received += len(seen & wanted)
        complete += seen >= wanted
        latencies += [ms for _percent, ms in got]
    return {
        "rate": rate,
        "publishes": sum(len(p) for p in published.values()),
        "expected": expected,
        "received": received,
        "clients_complete": complete,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "connect_s": connect_seconds,
        "drained_s": drained_after,
        "rss_idle": idle_rss,
        "rss_connected": connected_rss,
        "rss_end": end_rss,
        "cpu_s": cpu,
        "seconds": args.seconds,
    }


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    args = [
        sys.executable, "-m", "uvicorn", "academy.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    server = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
                return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer /api/v1/health in 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--rates", default="1,5", help="updates per second per video")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: one client process
    parser.add_argument("client_seconds", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.clients)), hard))
    if args.client:
        asyncio.run(_client_process(json.loads(args.client)))
        return

    with bench_env("fanout", redis_db=4) as env:
        from django.conf import settings

        from apps.api.live.tokens import issue_token
        from apps.support.video.models import Tenant, Video
        from src.infrastructure.cache.redis_progress_adapter import (
            RedisProgressAdapter,
            redis_client,
        )

        prefix = f"bench-fanout-{os.getpid()}"
        tenant = Tenant.objects.create(slug=f"fanout-{os.getpid()}", name="Fan-out")
        videos = [
            Video.objects.create(tenant=tenant, title=f"v{i}", status="PROCESSING")
            for i in range(args.videos)
        ]
        from apps.api.keys.api_keys import issue_key

        key_row, _key = issue_key(tenant, "fan-out", settings.CONFIG.api_key_pepper)
        tokens = {
            v.id: issue_token(tenant.id, v.id, key_row.id, settings.CONFIG.secret_key, 3600).token
            for v in videos
        }
        adapter = RedisProgressAdapter(redis_client(env.redis_url), events_prefix=prefix)
        log = Path(env.storage_root.parent / "server.log")
        with socket_port() as port:
            pass
        server = start_server(env.env(VIDEO_LIVE_CHANNEL_PREFIX=prefix), port, log)
        results = []
        try:
            for rate in rates:
                for v in videos:  # every run starts from a clean key
                    adapter.client.delete(f"tenant:{tenant.id}:video:{v.id}:progress")
                results.append(
                    run_rate(
                        f"ws://127.0.0.1:{port}", tokens, args, rate, server.pid, adapter,
                        tenant.id,
                    )
                )  # fmt: skip
        finally:
            server.terminate()
            server.wait(30)
            for v in videos:
                adapter.client.delete(f"tenant:{tenant.id}:video:{v.id}:progress")
    report(results, args)


def report(results: list[dict], args) -> None:
    print(
        f"\nLive-progress fan-out: {args.clients} WebSocket clients on {args.videos} videos, "
        f"{args.seconds:g} s per rate, one uvicorn process, loopback\n"
    )
    headers = [f"{r['rate']:g}/s per video" for r in results]
    rows = [
        ("updates published", lambda r: f"{r['publishes']}"),
        ("deliveries expected", lambda r: f"{r['expected']}"),
        ("deliveries received", lambda r: f"{r['received']}"),
        ("clients with every update", lambda r: f"{r['clients_complete']}/{args.clients}"),
        ("deliveries per second", lambda r: f"{r['expected'] / r['seconds']:.0f}"),
        ("latency p50 (ms)", lambda r: f"{r['p50']:.1f}"),
        ("latency p95 (ms)", lambda r: f"{r['p95']:.1f}"),
        ("latency p99 (ms)", lambda r: f"{r['p99']:.1f}"),
        ("latency max (ms)", lambda r: f"{r['max']:.1f}"),
        ("p95 / goal (250 ms)", lambda r: f"{r['p95'] / GOAL_P95_MS:.2f}"),
        ("time to connect all (s)", lambda r: f"{r['connect_s']:.1f}"),
        ("last delivery after last publish (s)", lambda r: f"{r['drained_s']:.1f}"),
        ("server RSS idle (MiB)", lambda r: f"{r['rss_idle']:.0f}"),
        ("server RSS connected (MiB)", lambda r: f"{r['rss_connected']:.0f}"),
        ("server RSS at end (MiB)", lambda r: f"{r['rss_end']:.0f}"),
        ("server CPU during run (s)", lambda r: f"{r['cpu_s']:.1f}"),
    ]
    width = max(len(name) for name, _ in rows) + 2
    print(" " * width + "".join(f"{h:>20}" for h in headers))
    for name, cell in rows:
        print(f"{name:<{width}}" + "".join(f"{cell(r):>20}" for r in results))
    if len(results) > 1:
        base = results[0]
        print(
            "\nratios to the first rate: "
            + ", ".join(
                f"{r['rate']:g}/s: p95 x{r['p95'] / base['p95']:.2f}, "
                f"server CPU x{r['cpu_s'] / max(base['cpu_s'], 1e-9):.2f}"
                for r in results[1:]
            )
        )
    ok = all(r["received"] == r["expected"] for r in results)
    goal = results[0]["p95"] <= GOAL_P95_MS
    print(
        f"\nevery client received every update: {'yes' if ok else 'NO'}; "
        f"p95 at {results[0]['rate']:g}/s per video within {GOAL_P95_MS:g} ms: "
        f"{'yes' if goal else 'NO'}"
    )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
