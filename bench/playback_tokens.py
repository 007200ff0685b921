"""What the playback token check costs: per check in-process, and segment requests per second
through a real server with and without tokens, side by side in one run.

1. The check alone (`src/infrastructure/playback/tokens.verify`), N times each: the API's
   own HS256 token and an academy's RS256 token (its key found in memory; the public key
   parsed once per process), each at its first use (the signature is checked) and at later
   requests (the process remembers it: only the expiry and the key are checked again), and
   a refused (tampered) token.
2. uvicorn serving academy.asgi:application (1 worker) on a dedicated PostgreSQL database and
   local storage: C client threads with keep-alive connections GET a 188 KB segment of
   - a public video (no token),
   - a signed video with the API's token (HS256),
   - a signed video with a token from a signing key (RS256, the key read from the database),
   - the public video again: an A/A control whose ratio to the first shows the noise,
   in many short interleaved rounds (each round starting with the next path) so a busy
   machine slows each alike; each path's rate is compared with the public phase of its own
   round, and the median of those per-round ratios is reported with their interquartile
   range (the spread a shared machine's load adds). The goal: tokens cost at most 5 % of
   the requests per second, judged on the median ratio; the load average is printed before
   and after.

    .venv/bin/python -m bench.playback_tokens [--clients 4] [--seconds 3] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench.api_load import LOGS, Server, run_phase
from bench.machine import describe_machine
from bench.support import bench_env

SEGMENT_BYTES = 188 * 1000  # a 6 s 360p segment is about this size
CHECKS = 20_000
GOAL_SLOWDOWN = 0.05
CONTROL = "public again (A/A control)"


def publish(env, tenant, policy: str) -> object:
    """A READY video with one rendition, its files written as a worker writes them."""
    from academy.adapters.db.django.repositories_video import DjangoVideoRepository
    from src.application.ports.video_repository import VideoResult
    from src.application.storage_keys import job_output_prefix

    repo = DjangoVideoRepository()
    video_id = repo.create_video(tenant.id, "bench", "src.mp4", playback_policy=policy)
    lease = repo.try_claim_video(video_id, "bench")
    prefix = job_output_prefix(lease.media_salt, lease.token)
    files = {
        "master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8\n",
        "360p/index.m3u8": b"#EXTM3U\n#EXTINF:6.0,\nseg_000.ts\n#EXT-X-ENDLIST\n",
        "360p/seg_000.ts": bytes(range(256)) * (SEGMENT_BYTES // 256),
    }
    for name, data in files.items():
        path = env.storage_root / prefix / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert repo.complete(lease, VideoResult(hls_key=f"{prefix}/master.m3u8"))
    return repo.get(video_id)


def per_check_microseconds(function, n: int = CHECKS) -> float:
    started = time.perf_counter()
    for _ in range(n):
        function()
    return (time.perf_counter() - started) / n * 1e6


def check_costs(video, signing_key, private_pem: str) -> dict[str, float]:
    import jwt

    from apps.api.playback.links import api_token_key, mint_token
    from src.infrastructure.playback.tokens import (
        SigningKey,
        TokenRefused,
        _check_signature,
        verify,
    )

    ours = mint_token(video, "v", 3600).token
    claims = {"sub": video.playback_id, "aud": "v", "exp": int(time.time()) + 3600}
    theirs = jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": signing_key.pk})
    known = {signing_key.pk: SigningKey(video.tenant_id, signing_key.public_key_pem)}
    key = api_token_key()
    tampered = ours[:-4] + ("AAAA" if not ours.endswith("AAAA") else "BBBB")

    def refused() -> None:
        try:
            verify(tampered, video.playback_id, "v", key, known.get)
        except TokenRefused:
            return
        raise AssertionError("a tampered token passed")

    pid = video.playback_id
    return {
        "HS256, first use (signature)": per_check_microseconds(
            lambda: _check_signature(ours, pid, "v", key, known.get)
        ),
        "HS256, later requests": per_check_microseconds(
            lambda: verify(ours, pid, "v", key, known.get)
        ),
        "RS256, first use (signature)": per_check_microseconds(
            lambda: _check_signature(theirs, pid, "v", key, known.get)
        ),
        "RS256, later requests": per_check_microseconds(
            lambda: verify(theirs, pid, "v", key, known.get)
        ),
        "refused (tampered)": per_check_microseconds(refused),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    with bench_env("playback_tokens", redis_db=3) as env:
        import jwt

        from apps.api.playback import signing_keys
        from apps.api.playback.links import mint_token
        from apps.support.video.models import Tenant

        tenant = Tenant.objects.create(slug="bench-playback", name="Bench")
        public = publish(env, tenant, "public")
        signed = publish(env, tenant, "signed")
        created = signing_keys.create_key(tenant.id)
        print(f"{describe_machine()}   (load average at start {load_average()})")
        print(f"\n1. One token check, in process ({CHECKS} each):")
        for name, micros in check_costs(signed, created.row, created.private_key_pem).items():
            print(f"   {name:32} {micros:7.1f} µs")

        ours = mint_token(signed, "v", 3600).token
        claims = {"sub": signed.playback_id, "aud": "v", "exp": int(time.time()) + 3600}
        theirs = jwt.encode(
            claims, created.private_key_pem, algorithm="RS256", headers={"kid": created.row.pk}
        )
        paths = {
            "public, no token": f"/media/{public.playback_id}/360p/seg_000.ts",
            # The same requests again (an A/A control): how far its ratio strays from 1 is
            # this run's noise, the yardstick for the token paths' ratios.
            CONTROL: f"/media/{public.playback_id}/360p/seg_000.ts",
            "signed, API token (HS256)": f"/media/{signed.playback_id}/360p/seg_000.ts"
            f"?token={ours}",
            "signed, signing key (RS256)": f"/media/{signed.playback_id}/360p/seg_000.ts"
            f"?token={theirs}",
        }
        server = Server(env, 1, LOGS / "playback-tokens.log")
        results: dict[str, list[dict]] = {name: [] for name in paths}
        try:
            for path in paths.values():  # warm up each path once
                run_phase(server.port, 1, 0.5, lambda _i, p=path: ("GET", p, None, {}))
            names = list(paths)
            for n in range(args.rounds):
                # Each round starts with another path: none is always first after a pause.
                for name in names[n % len(names) :] + names[: n % len(names)]:
                    path = paths[name]
                    results[name].append(
                        run_phase(
                            server.port,
                            args.clients,
                            args.seconds,
                            lambda _i, p=path: ("GET", p, None, {}),
                            pgid=server.proc.pid,
                        )
                    )
        finally:
            server.stop()
        print(
            f"\n2. GET a {SEGMENT_BYTES // 1000} KB segment, uvicorn 1 worker, {args.clients} "
            f"clients, {args.rounds} interleaved rounds of {args.seconds:g} s "
            f"(load average at end {load_average()}):"
        )
        ratios = report_rates(results, "public, no token")
        name, (low, mid, _high) = min(
            ((n, q) for n, q in ratios.items() if n not in ("public, no token", CONTROL)),
            key=lambda x: x[1][1],
        )
        c_low, c_mid, c_high = ratios[CONTROL]
        if mid < 1 - GOAL_SLOWDOWN:
            verdict = "NOT met"
        elif low >= 1 - GOAL_SLOWDOWN:
            verdict = "met, beyond this run's spread"
        else:
            verdict = "met by the median; the spread reaches past it (a busy machine)"
        print(
            f"\n   slowest path with a token ({name}): median {1 - mid:.1%} fewer requests/s "
            f"than public (negative: more); goal ≤ 5 %: {verdict}. The control strayed "
            f"{abs(1 - c_mid):.1%} (quartiles {c_low:.3f}..{c_high:.3f}) with no token at all."
        )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def report_rates(
    results: dict[str, list[dict]], baseline: str
) -> dict[str, tuple[float, float, float]]:
    """Print each path's median rate, the quartiles of its per-round ratio to the baseline
    phase of the same round (drifts of a shared machine's load between rounds cancel out),
    its pooled ratio (all its requests over all its time, against the baseline's) and the
    same for server CPU per request. The ratio quartiles, by path."""
    base_runs = results[baseline]

    def pooled(runs: list[dict]) -> float:
        return sum(r["requests"] for r in runs) / sum(r["requests"] / r["rps"] for r in runs)

    quartiles_by_path = {}
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        low, mid, high = quartiles(
            [r["rps"] / b["rps"] for r, b in zip(runs, base_runs, strict=True)]
        )
        cpu_low, cpu_mid, cpu_high = quartiles(
            [
                r["cpu_ms_per_request"] / b["cpu_ms_per_request"]
                for r, b in zip(runs, base_runs, strict=True)
            ]
        )
        quartiles_by_path[name] = (low, mid, high)
        p50 = statistics.median(r["p50"] for r in runs)
        cpu = statistics.median(r["cpu_ms_per_request"] for r in runs)
        errors = sum(r["errors"] for r in runs)
        print(
            f"   {name:28} {rps:5.1f} req/s  ratio {mid:5.3f} [{low:5.3f}..{high:5.3f}]"
            f" pooled {pooled(runs) / pooled(base_runs):5.3f}  p50 {p50:5.1f} ms"
            f"  CPU {cpu:4.2f} ms/req ratio {cpu_mid:5.3f} [{cpu_low:5.3f}..{cpu_high:5.3f}]"
            f"  errors {errors}"
        )
    print(
        "   (ratio: median per-round ratio to the public phase [first..third quartile];"
        " pooled: all rounds' requests over all their time)"
    )
    return quartiles_by_path


if __name__ == "__main__":
    main()
