"""Transcript search at scale: 10 000 videos x 60 cues (600 000 cues) on PostgreSQL and on
SQLite, p50/p95 of `?q=` (the list use case with its search: the ranked page of 20 and
their hits) for a rare word (3 cues) and a common one (about one cue in ten).

    .venv/bin/python bench/search.py [--videos 10000] [--cues 60] [--queries 200] [--reuse]

Each database is seeded and measured in a child process of its own (a fresh PostgreSQL
database `bench_search`, a fresh SQLite file), migrated as production is; the parent prints
both side by side. `--reuse` keeps the PostgreSQL database and var/bench/search.sqlite3 and
skips seeding when they already hold this many cues (seeding takes ~6 min per database).
Each word is timed with the ranking bounded to CANDIDATE_CUES matching cues (production) and
unbounded (every matching cue ranked, the old way), side by side. Goal: p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import ROOT, _recreate_database

RARE = "zeolite"
COMMON = "lecture"
RARE_CUES = 3
COMMON_SHARE = 0.1  # of all cues
WORDS_PER_CUE = 10
VOCABULARY = 5000
SYLLABLES = ["ka", "lo", "mi", "ter", "vo", "sen", "ra", "pul", "di", "gen", "tho", "mas"]
PAGE = 20
BATCH = 5000
GOAL_P95_MS = 50.0


def vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words - {RARE, COMMON})


def seed(videos: int, cues_per_video: int) -> int:
    """The tenant's videos (READY, each with one READY English track) and their cues."""
    from apps.support.captions.models import CaptionCue, CaptionTrack
    from apps.support.video.models import Tenant, Video

    rng = random.Random(22)
    words = vocabulary(rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf-like
    tenant = Tenant.objects.create(slug="bench-search", name="Bench")
    Video.objects.bulk_create(
        Video(tenant=tenant, title=f"Lecture week {n} {rng.choice(words)}", status="READY")
        for n in range(videos)
    )
    video_ids = list(Video.objects.filter(tenant=tenant).values_list("pk", flat=True))
    CaptionTrack.objects.bulk_create(
        CaptionTrack(tenant=tenant, video_id=v, kind="auto", status="READY", language="en")
        for v in video_ids
    )
    tracks = dict(CaptionTrack.objects.filter(tenant=tenant).values_list("video_id", "pk"))
    total = videos * cues_per_video
    rare_at = set(rng.sample(range(total), RARE_CUES))
    batch: list[CaptionCue] = []
    n = 0
    for video_id in video_ids:
        for i in range(cues_per_video):
            text = rng.choices(words, weights, k=WORDS_PER_CUE)
            if rng.random() < COMMON_SHARE:
                text[rng.randrange(WORDS_PER_CUE)] = COMMON
            if n in rare_at:
                text[rng.randrange(WORDS_PER_CUE)] = RARE
            n += 1
            batch.append(
                CaptionCue(
                    track_id=tracks[video_id],
                    video_id=video_id,
                    tenant=tenant,
                    language="en",
                    config="english",
                    start=i * 4.0,
                    end=i * 4.0 + 3.5,
                    text=" ".join(text).capitalize() + ".",
                )
            )
            if len(batch) >= BATCH:
                CaptionCue.objects.bulk_create(batch)
                batch = []
    CaptionCue.objects.bulk_create(batch)
    return tenant.pk


def seeded(videos: int, cues_per_video: int) -> int | None:
    """The bench tenant's id when a reused database already holds this many cues."""
    from apps.support.captions.models import CaptionCue
    from apps.support.video.models import Tenant

    tenant = Tenant.objects.filter(slug="bench-search").first()
    if tenant and CaptionCue.objects.filter(tenant=tenant).count() == videos * cues_per_video:
        return tenant.pk
    return None


def measure(tenant_id: int, word: str, queries: int, candidate_cues: int) -> dict[str, float]:
    from academy.adapters.db.django.repositories_video import DjangoVideoRepository
    from academy.adapters.db.django.transcript_search import transcript_search
    from src.application.video_queries import VideoQueries

    search = transcript_search(candidate_cues=candidate_cues)
    use_case = VideoQueries(DjangoVideoRepository(), None, search)  # type: ignore[arg-type]
    found = use_case.list(tenant_id, limit=PAGE, q=word)  # warm the caches once
    times = []
    for _ in range(queries):
        started = time.perf_counter()
        page = use_case.list(tenant_id, limit=PAGE, q=word)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
        "videos_on_page": len(page.videos),
        "hits_on_first": len(found.hits[found.videos[0].id]) if found.videos else 0,
    }


def child(args: argparse.Namespace) -> None:
    """Seed and measure on DATABASE_URL (already migrated); print one JSON line."""
    import django

    django.setup()
    from django.db import connection

    from src.application.ports.transcript_search import CANDIDATE_CUES

    started = time.perf_counter()
    tenant_id = seeded(args.videos, args.cues)
    seed_seconds: float | str = "reused"
    if tenant_id is None:
        tenant_id = seed(args.videos, args.cues)
        seed_seconds = round(time.perf_counter() - started, 1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    unbounded = args.videos * args.cues
    result = {"database": connection.vendor, "seed_seconds": seed_seconds}
    for kind, word in (("rare", RARE), ("common", COMMON)):
        result[kind] = measure(tenant_id, word, args.queries, CANDIDATE_CUES)
        result[f"{kind}_unbounded"] = measure(tenant_id, word, args.queries, unbounded)
    print(json.dumps(result))


def run_child(database_url: str, args: argparse.Namespace) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "academy.settings",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    cmd = [sys.executable, __file__, "--child", "--videos", str(args.videos)]
    cmd += ["--cues", str(args.cues), "--queries", str(args.queries)]
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--cues", type=int, default=60)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep a seeded database")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    if args.reuse:
        cached = ROOT / "var" / "bench" / "search.sqlite3"
        cached.parent.mkdir(parents=True, exist_ok=True)
        results = [
            run_child("postgres://postgres@127.0.0.1:5432/bench_search", args),
            run_child(f"sqlite:///{cached}", args),
        ]
    else:
        with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
            results = [
                run_child(_recreate_database("bench_search"), args),
                run_child(f"sqlite:///{Path(tmp) / 'search.sqlite3'}", args),
            ]
    print(
        f"{args.videos} videos x {args.cues} cues = {args.videos * args.cues} cues; "
        f"page of {PAGE}; {args.queries} queries per word; goal p95 <= {GOAL_P95_MS:.0f} ms"
    )
    print(f"{'database':<12}{'word':<18}{'p50 ms':>9}{'p95 ms':>9}{'goal':>7}{'seed s':>9}")
    for r in results:
        for kind in ("rare", "rare_unbounded", "common", "common_unbounded"):
            m = r[kind]
            ok = "met" if m["p95_ms"] <= GOAL_P95_MS else "MISSED"
            print(
                f"{r['database']:<12}{kind:<18}{m['p50_ms']:>9.1f}{m['p95_ms']:>9.1f}"
                f"{ok:>7}{r['seed_seconds']:>9}"
            )
    pg, lite = results
    for kind in ("rare", "common"):
        print(
            f"{kind}: SQLite p95 / PostgreSQL p95 = {lite[kind]['p95_ms'] / pg[kind]['p95_ms']:.2f}"
        )
    for r in results:
        ratio = r["common_unbounded"]["p95_ms"] / r["common"]["p95_ms"]
        print(f"{r['database']}: common word p95 unbounded / bounded = {ratio:.1f}")


if __name__ == "__main__":
    main()
