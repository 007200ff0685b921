"""HTTP API under load, and the memory of a 2 GB upload through the file-storage PUT.

Real processes on loopback: uvicorn serving academy.asgi:application (1 worker, then 4), a
dedicated PostgreSQL database, Redis (the rate limiter and progress; limits set high enough
never to refuse), local file storage. N client threads, each with its own keep-alive
connection, run three phases per worker count:

- GET /api/v1/videos/{id} on a few existing videos;
- POST /api/v1/videos (JSON) with a new Idempotency-Key each: creates a video every time;
- POST /api/v1/videos replaying one Idempotency-Key (the stored response, no new row).

Then one worker receives a 2 GB source through PUT /api/v1/videos/{id}/source: the bytes
are generated on the fly (one random MiB sent 2048 times) and the server's peak RSS (VmHWM)
is read from /proc; the 2 GB file is deleted with DELETE /api/v1/videos/{id} right after.

    .venv/bin/python -m bench.api_load [--clients 8] [--seconds 10] [--upload-mib 2048]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.support import PG, ROOT, bench_env, socket_port

MIB = 1024 * 1024
START_TIMEOUT_SECONDS = 60
UPLOAD_LIMIT_MB = 100  # the goal: a 2 GB upload never costs the server more than this
LOGS = ROOT / "var" / "bench-api-load"  # the servers' logs, kept after the run


class Server:
    """uvicorn as a child process; stopped (its whole group) on exit."""

    def __init__(self, env, workers: int, log: Path) -> None:
        with socket_port() as port:
            self.port = port
        self.log = open(log, "w")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "academy.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--workers", str(workers), "--no-access-log"),
            ],
            cwd=ROOT,
            env=env.env(
                VIDEO_API_RATE_PER_SECOND=100_000, VIDEO_API_RATE_BURST=100_000, LOG_LEVEL="INFO"
            ),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if request(self.port, "GET", "/api/v1/ready")[0] == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"uvicorn did not start: see {log}")
            time.sleep(0.2)

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.log.close()


def request(port, method, path, body=None, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every process in the server's process group (its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def db_connections(database: str) -> int:
    import psycopg2

    conn = psycopg2.connect(**PG)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database])
            return cur.fetchone()[0]
    finally:
        conn.close()


def run_phase(
    port: int,
    clients: int,
    seconds: float,
    make: Callable[[int], tuple],
    database: str = "",
    pgid: int = 0,
) -> dict:
    """`clients` threads send `make(i)` = (method, path, body, headers) until time is up;
    the server's PostgreSQL connections are counted twice a second meanwhile."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients  # 5xx, other unexpected statuses, broken connections
    conflicts = [0] * clients  # 409: the replayed key's first request still in flight
    kinds: Counter[str] = Counter()  # what the errors were
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        i = 0
        while time.monotonic() < stop_at[0]:
            method, path, body, headers = make(n * 1_000_000 + i)
            i += 1
            t = time.perf_counter()
            try:
                status, raw = request(port, method, path, body, headers, conn)
            except (OSError, http.client.HTTPException) as exc:
                errors[n] += 1
                kinds[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies[n].append(time.perf_counter() - t)
            if status == 409:
                conflicts[n] += 1
            elif status >= 400:
                errors[n] += 1
                kinds[f"{status} {_code(raw)}"] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    began = time.monotonic()
    cpu_before = group_cpu_seconds(pgid) if pgid else 0.0
    stop_at[0] = began + seconds
    start.wait()
    most_connections = 0
    while database and time.monotonic() < stop_at[0]:
        most_connections = max(most_connections, db_connections(database))
        time.sleep(0.5)
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    cpu = group_cpu_seconds(pgid) - cpu_before if pgid else 0.0
    every = sorted(x for per in latencies for x in per)
    q = statistics.quantiles(every, n=100) if len(every) > 1 else [0.0] * 99
    return {
        "requests": len(every),
        "rps": len(every) / wall,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
        "errors": sum(errors),
        "conflicts": sum(conflicts),
        "kinds": dict(kinds),
        "db_connections": most_connections,
        "cpu_ms_per_request": cpu * 1000 / max(len(every), 1),
    }


def _code(raw: bytes) -> str:
    try:
        return json.loads(raw).get("code", "")
    except ValueError:
        return "not JSON"


def load(env, key: str, video_ids: list[int], workers: int, clients: int, seconds: float):
    server = Server(env, workers, LOGS / f"uvicorn-{workers}.log")
    auth = {"Authorization": f"Bearer {key}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    replay_key = str(uuid.uuid4())
    body = json.dumps({"title": "load test"})
    try:
        # Warm every worker process (imports, connections) before measuring.
        run_phase(server.port, clients, 3.0, lambda i: ("GET", "/api/v1/health", None, {}))
        phases = {
            "GET /videos/{id}": lambda i: (
                "GET",
                f"/api/v1/videos/{video_ids[i % len(video_ids)]}",
                None,
                auth,
            ),
            "POST /videos (new key)": lambda i: (
                "POST",
                "/api/v1/videos",
                body,
                {**json_auth, "Idempotency-Key": str(uuid.uuid4())},
            ),
            "POST /videos (replayed key)": lambda i: (
                "POST",
                "/api/v1/videos",
                body,
                {**json_auth, "Idempotency-Key": replay_key},
            ),
        }
        database = env.db_url.rsplit("/", 1)[-1]
        return {
            name: run_phase(server.port, clients, seconds, make, database, server.proc.pid)
            for name, make in phases.items()
        }
    finally:
        server.stop()


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def upload_memory(env, key: str, mib: int) -> dict:
    free = shutil.disk_usage(env.storage_root).free
    if free < (mib + 512) * MIB:
        raise SystemExit(f"not enough disk for a {mib} MiB upload ({free // MIB} MiB free)")
    server = Server(env, 1, LOGS / "uvicorn-upload.log")
    auth = {"Authorization": f"Bearer {key}"}
    size = mib * MIB
    try:
        pid = server.proc.pid  # --workers 1: uvicorn serves in this very process
        before = status_kb(pid, "VmRSS")
        status, raw = request(
            server.port,
            "POST",
            "/api/v1/videos",
            json.dumps({"title": "2 GB", "size_bytes": size, "filename": "big.mp4"}),
            {**auth, "Content-Type": "application/json"},
        )
        assert status == 201, raw
        video = json.loads(raw)
        block = os.urandom(MIB)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        conn.putrequest("PUT", f"/api/v1/videos/{video['id']}/source")
        conn.putheader("Authorization", auth["Authorization"])
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        samples = []
        t = time.monotonic()
        for n in range(mib):
            conn.send(block)
            if n % 64 == 0:
                samples.append(status_kb(pid, "VmRSS"))
        answer = conn.getresponse()
        answer.read()
        wall = time.monotonic() - t
        conn.close()
        peak = status_kb(pid, "VmHWM")
        stored = sum(p.stat().st_size for p in env.storage_root.rglob("*") if p.is_file())
        deleted = request(server.port, "DELETE", f"/api/v1/videos/{video['id']}", None, auth)[0]
        left = sum(p.stat().st_size for p in env.storage_root.rglob("*") if p.is_file())
        return {
            "status": answer.status,
            "mib": mib,
            "seconds": wall,
            "mib_per_s": mib / wall,
            "rss_before_mb": before / 1024,
            "rss_max_sampled_mb": max(samples) / 1024,
            "peak_rss_mb": peak / 1024,
            "stored_bytes": stored,
            "deleted_status": deleted,
            "left_bytes": left,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--upload-mib", type=int, default=2048)
    args = parser.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    with bench_env("api_load", redis_db=3) as env:
        from django.conf import settings

        from apps.api.keys.api_keys import issue_key
        from apps.support.video.models import Tenant, Video

        tenant = Tenant.objects.create(slug="bench-api", name="Bench API")
        _row, key = issue_key(tenant, "bench", settings.CONFIG.api_key_pepper)
        video_ids = [
            Video.objects.create(tenant=tenant, title=f"lecture {n}", status="UPLOADED").pk
            for n in range(10)
        ]
        results = {
            workers: load(env, key, video_ids, workers, args.clients, args.seconds)
            for workers in (1, 4)
        }
        upload = upload_memory(env, key, args.upload_mib)

    print(f"\nHTTP API load: {args.clients} clients, {args.seconds:g} s per phase, loopback")
    print(
        f"{'phase':<28} {'workers':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7} {'409s':>5} {'db conns':>8} {'CPU ms/req':>10} "
        f"{'req/s vs 1':>10}"
    )
    for phase in results[1]:
        base = results[1][phase]["rps"]
        for workers in (1, 4):
            r = results[workers][phase]
            print(
                f"{phase:<28} {workers:>7} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
                f"{r['p99']:>8.1f} {r['errors']:>7} {r['conflicts']:>5} "
                f"{r['db_connections']:>8} {r['cpu_ms_per_request']:>10.1f} "
                f"{r['rps'] / base:>10.2f}"
            )
            if r["kinds"]:
                print(f"{'':<28} errors: {r['kinds']}")
    u = upload
    print(
        f"\nPUT /source of {u['mib']} MiB (status {u['status']}): {u['seconds']:.1f} s, "
        f"{u['mib_per_s']:.0f} MiB/s; server RSS {u['rss_before_mb']:.0f} MB before, "
        f"peak (VmHWM) {u['peak_rss_mb']:.0f} MB, largest sample {u['rss_max_sampled_mb']:.0f} MB"
    )
    added = u["peak_rss_mb"] - u["rss_before_mb"]
    print(
        f"the upload added {added:.0f} MB to the idle server's RSS "
        f"(goal < {UPLOAD_LIMIT_MB} MB: {'met' if added < UPLOAD_LIMIT_MB else 'MISSED'}); "
        f"peak / idle = {u['peak_rss_mb'] / u['rss_before_mb']:.2f}"
    )
    print(f"server logs in {LOGS}")
    print(
        f"stored {u['stored_bytes']} bytes; DELETE answered {u['deleted_status']}, "
        f"{u['left_bytes']} bytes left on disk"
    )


if __name__ == "__main__":
    main()
