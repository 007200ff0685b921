"""Concurrent claims on real PostgreSQL: threads and forked processes, one winner per video."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections

from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from apps.support.video.models import Tenant, Video
from tests.integration.repo_backends import DJANGO_DB

pytestmark = [DJANGO_DB, pytest.mark.postgres, pytest.mark.slow]

ROUNDS = 50
THREADS = 16
PROCESSES = 4
# Long enough for a slow CI machine, short enough that a lost participant fails the test fast.
BARRIER_TIMEOUT = 30


def _videos(count: int) -> list[int]:
    tenant = Tenant.objects.create(slug="race-academy", name="Race academy")
    rows = Video.objects.bulk_create(Video(tenant=tenant, title=f"race {i}") for i in range(count))
    return [v.pk for v in rows]


def _assert_one_winner_each(video_ids: list[int], wins: dict[int, list[str]]) -> None:
    per_round = [len(wins[v]) for v in video_ids]
    assert per_round == [1] * len(video_ids), f"winners per round: {per_round}"
    for video_id in video_ids:
        row = Video.objects.get(pk=video_id)
        assert (row.status, row.lease_token, row.attempts) == ("PROCESSING", 1, 1)
        assert [row.leased_by] == wins[video_id]


def test_threads_claiming_the_same_video_one_wins():
    video_ids = _videos(ROUNDS)
    repo = DjangoVideoRepository()
    barrier = threading.Barrier(THREADS, timeout=BARRIER_TIMEOUT)
    wins: dict[int, list[str]] = {v: [] for v in video_ids}
    wins_lock = threading.Lock()
    errors: list[BaseException] = []

    def contend(worker_id: str) -> None:
        # Django gives this thread its own connection; it is closed when the thread ends.
        try:
            for video_id in video_ids:
                barrier.wait()
                if repo.try_claim_video(video_id, worker_id) is not None:
                    with wins_lock:
                        wins[video_id].append(worker_id)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=contend, args=(f"thread-{i}",)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BARRIER_TIMEOUT * 2)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "a claim thread hung"
    assert not errors, errors
    by_worker = Counter(w for ws in wins.values() for w in ws)
    print(
        f"\n[threads] {THREADS} threads x {ROUNDS} videos in {elapsed:.2f}s: "
        f"winners per video {sorted(Counter(len(w) for w in wins.values()).items())}, "
        f"wins per thread {dict(sorted(by_worker.items()))}"
    )
    _assert_one_winner_each(video_ids, wins)


def _claim_in_child(index, video_ids, barrier, results) -> None:
    """One forked worker: its own connection, one claim per round, every outcome reported."""
    connections.close_all()
    repo = DjangoVideoRepository()
    worker_id = f"process-{index}"
    try:
        for video_id in video_ids:
            barrier.wait()
            won = repo.try_claim_video(video_id, worker_id) is not None
            results.put((video_id, worker_id, won))
    except BaseException:
        barrier.abort()  # the others stop waiting for a worker that is gone
        raise
    finally:
        connections.close_all()


def test_processes_claiming_the_same_video_one_wins():
    video_ids = _videos(ROUNDS)
    # The children must not share the parent's socket: close it before forking.
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES, timeout=BARRIER_TIMEOUT)
    results = ctx.Queue()
    started = time.monotonic()
    children = [
        ctx.Process(target=_claim_in_child, args=(i, video_ids, barrier, results))
        for i in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        outcomes = [results.get(timeout=BARRIER_TIMEOUT) for _ in range(PROCESSES * ROUNDS)]
    finally:
        for child in children:
            child.join(BARRIER_TIMEOUT)
            if child.is_alive():
                child.terminate()
    elapsed = time.monotonic() - started
    assert [c.exitcode for c in children] == [0] * PROCESSES

    wins: dict[int, list[str]] = {v: [] for v in video_ids}
    for video_id, worker_id, won in outcomes:
        if won:
            wins[video_id].append(worker_id)
    assert Counter(v for v, _, _ in outcomes) == dict.fromkeys(video_ids, PROCESSES)
    by_worker = Counter(w for ws in wins.values() for w in ws)
    print(
        f"\n[processes] {PROCESSES} processes x {ROUNDS} videos in {elapsed:.2f}s: "
        f"winners per video {sorted(Counter(len(w) for w in wins.values()).items())}, "
        f"wins per process {dict(sorted(by_worker.items()))}"
    )
    _assert_one_winner_each(video_ids, wins)
