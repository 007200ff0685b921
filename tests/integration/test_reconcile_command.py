"""reconcile_video_processing against real PostgreSQL, Redis and moto's SQS server: in-process
through call_command, and as a real process (single runs and --loop). Also the contract of the
repository methods reconcile added (fenced reclaim, mark_enqueued) on fake, SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import types
from datetime import timedelta

import boto3
import pytest
import redis
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone

from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from apps.support.video.models import Tenant, Video
from bench.harness import ROOT, ProcessLog, free_port, wait_until
from src.application import reconcile as rc
from src.application.domain import VideoStatus
from src.application.ports.fakes import InMemoryProgress
from src.infrastructure.cache import redis_keys as cache
from src.infrastructure.queue.sqs_queue import SqsVideoQueue
from tests.e2e.harness import TEST_REDIS_URL, SqsFixture, base_env, database_url
from tests.integration.repo_backends import (
    DJANGO_DB,
    SHORT_LEASE_SECONDS,
    Backend,
    wait_past_short_lease,
)

COMMAND = "reconcile_video_processing"
HEARTBEAT_TTL = 3  # grace after a claim: max(TTL/3, 2 s) = 2 s
REENQUEUE_AFTER = 600


# -- repository contract: what reconcile added ------------------------------------------------
@DJANGO_DB
def test_reclaim_fenced_on_the_claim_looked_at(backend: Backend):
    repo = backend.repo
    video_id, lease = backend.claimed_video("worker-a", lease_seconds=300)
    for wrong in ({"expected_token": lease.token + 1}, {"expected_worker": "worker-b"}):
        assert repo.try_reclaim_video(video_id, force=True, **wrong) is False
    assert backend.repo.get(video_id).status == VideoStatus.PROCESSING
    assert repo.try_reclaim_video(
        video_id, force=True, expected_token=lease.token, expected_worker="worker-a"
    )
    again = repo.try_claim_video(video_id, "worker-a", lease_seconds=SHORT_LEASE_SECONDS)
    assert again is not None and again.token == lease.token + 1
    wait_past_short_lease()
    # Same worker, expired lease, but a newer claim than the one the caller saw: refused.
    assert repo.try_reclaim_video(video_id, expected_token=lease.token) is False
    assert repo.try_reclaim_video(video_id, expected_token=again.token) is True
    assert repo.get(video_id).status == VideoStatus.UPLOADED


@DJANGO_DB
def test_mark_enqueued_touches_only_uploaded_rows_and_only_once_when_stale(backend: Backend):
    repo = backend.repo
    video_id = backend.new_video()
    processing, _ = backend.claimed_video()
    assert repo.mark_enqueued(video_id, older_than_seconds=SHORT_LEASE_SECONDS) is False  # fresh
    wait_past_short_lease()
    assert [r.id for r in repo.list_stale_uploaded(SHORT_LEASE_SECONDS)] == [video_id]
    before = repo.get(video_id).updated_at
    assert repo.mark_enqueued(video_id, older_than_seconds=SHORT_LEASE_SECONDS) is True
    # A second reconciler that listed it too loses: the row is no longer stale.
    assert repo.mark_enqueued(video_id, older_than_seconds=SHORT_LEASE_SECONDS) is False
    row = repo.get(video_id)
    assert row.updated_at > before and row.status == VideoStatus.UPLOADED
    assert repo.list_stale_uploaded(SHORT_LEASE_SECONDS) == []
    assert repo.mark_enqueued(video_id) is True  # unconditional: still UPLOADED
    assert repo.mark_enqueued(processing) is False
    assert repo.mark_enqueued(987_654_321) is False
    assert repo.get(processing).status == VideoStatus.PROCESSING


# -- the command in-process -------------------------------------------------------------------
TRANSACTIONAL_DB = pytest.mark.django_db(transaction=True)


@pytest.fixture
def r():
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def tenant():
    # A random id: Redis keys carry it, and other test runs share this Redis database.
    return Tenant.objects.create(
        pk=random.randrange(10**6, 10**9), slug=f"rc-{random.randrange(10**9)}", name="Reconcile"
    )


@pytest.fixture
def cfg(settings, sqs):
    """The command's configuration: this test's queue, Redis db 2, a 3 s heartbeat TTL."""
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        redis_url=TEST_REDIS_URL,
        aws_endpoint_url=sqs.endpoint,
        sqs_queue_url=sqs.url,
        heartbeat_ttl=HEARTBEAT_TTL,
        reenqueue_after_seconds=REENQUEUE_AFTER,
    )
    return settings


class Rows:
    """Videos in the states reconcile tells apart, made by backdating timestamps."""

    def __init__(self, tenant: Tenant, r: redis.Redis) -> None:
        self.tenant = tenant
        self.r = r
        self.repo = DjangoVideoRepository(default_lease_seconds=300)
        self.keys: list[str] = []

    def processing(
        self, worker: str, *, lease_left: float, started_ago: float, heartbeat: bool
    ) -> int:
        video = Video.objects.create(tenant=self.tenant, title="t", source_key="s")
        assert self.repo.try_claim_video(video.pk, worker, 300)
        now = timezone.now()
        Video.objects.filter(pk=video.pk).update(
            leased_until=now + timedelta(seconds=lease_left),
            processing_started_at=now - timedelta(seconds=started_ago),
        )
        if heartbeat:
            cache.set_video_heartbeat(self.r, self.tenant.pk, video.pk, worker, 60)
        self.keys.append(cache.heartbeat_key(self.tenant.pk, video.pk))
        return video.pk

    def uploaded(self, age: float) -> int:
        video = Video.objects.create(tenant=self.tenant, title="t", source_key="s")
        Video.objects.filter(pk=video.pk).update(updated_at=timezone.now() - timedelta(seconds=age))
        return video.pk

    def snapshot(self) -> list[tuple]:
        return list(
            Video.objects.filter(tenant=self.tenant)
            .order_by("pk")
            .values_list("pk", "status", "leased_by", "lease_token", "updated_at")
        )

    def status(self, video_id: int) -> str:
        return Video.objects.values_list("status", flat=True).get(pk=video_id)

    def cleanup(self) -> None:
        if self.keys:
            self.r.delete(*self.keys)


@pytest.fixture
def rows(tenant, r):
    made = Rows(tenant, r)
    yield made
    made.cleanup()


@pytest.fixture
def mixed(rows):
    """One video in each state: what a pass should do to each is the test's subject."""
    return types.SimpleNamespace(
        expired=rows.processing("w-dead", lease_left=-5, started_ago=60, heartbeat=False),
        silent=rows.processing("w-silent", lease_left=200, started_ago=60, heartbeat=False),
        alive=rows.processing("w-alive", lease_left=200, started_ago=60, heartbeat=True),
        fresh=rows.processing("w-fresh", lease_left=200, started_ago=0.2, heartbeat=False),
        stale=rows.uploaded(age=REENQUEUE_AFTER + 60),
        recent=rows.uploaded(age=10),
    )


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(COMMAND, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def sent_video_ids(queue: SqsFixture) -> list[int]:
    bodies = []
    while batch := queue.receive_now():
        bodies += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            queue.client.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    assert all(set(b) == {"video_id", "tenant_id", "request_id"} for b in bodies)
    return sorted(b["video_id"] for b in bodies)


@TRANSACTIONAL_DB
def test_json_run_reclaims_dead_jobs_and_resends_lost_enqueues(cfg, sqs, rows, mixed):
    out, _ = run("--json")
    report = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert sorted(report["reclaimed"]) == sorted([mixed.expired, mixed.silent])
    assert sorted(report["reenqueued"]) == sorted([mixed.expired, mixed.silent, mixed.stale])
    assert {s["video_id"]: s["reason"] for s in report["skipped"]} == {
        mixed.alive: rc.HEARTBEAT_ALIVE,
        mixed.fresh: rc.HEARTBEAT_GRACE,
    }
    reasons = {a["video_id"]: a["reason"] for a in report["actions"] if a["action"] == "reclaimed"}
    assert reasons == {mixed.expired: rc.LEASE_EXPIRED, mixed.silent: rc.HEARTBEAT_MISSING}
    assert report["ok"] and report["redis_available"] and report["errors"] == []
    assert sent_video_ids(sqs) == sorted([mixed.expired, mixed.silent, mixed.stale])
    for video_id in (mixed.expired, mixed.silent):
        row = Video.objects.get(pk=video_id)
        assert (row.status, row.leased_by, row.leased_until) == ("UPLOADED", "", None)
    for video_id in (mixed.alive, mixed.fresh):
        assert rows.status(video_id) == "PROCESSING"
    # The re-sent stale row was touched, so the next pass leaves every row alone.
    again = json.loads(run("--json")[0])
    assert again["reclaimed"] == [] and again["reenqueued"] == []
    assert sent_video_ids(sqs) == []


@TRANSACTIONAL_DB
def test_human_summary(cfg, sqs, rows, mixed):
    out, _ = run()
    assert out.splitlines()[0] == (
        "reclaimed 2, re-enqueued 3, skipped 2, errors 0 (redis available)"
    )
    assert f"video {mixed.expired}: reclaimed: lease_expired (worker w-dead, lease token 1)" in out
    assert f"video {mixed.silent}: reclaimed: heartbeat_missing" in out
    assert f"video {mixed.alive}: skipped: heartbeat_alive" in out
    assert f"video {mixed.stale}: re-enqueued: stale_uploaded" in out


@TRANSACTIONAL_DB
def test_dry_run_changes_nothing(cfg, sqs, rows, mixed):
    before = rows.snapshot()
    out, _ = run("--dry-run")
    assert out.startswith("dry run, nothing changed: would reclaim 2, would re-enqueue 3")
    assert f"video {mixed.silent}: would reclaim: heartbeat_missing" in out
    assert f"video {mixed.stale}: would re-enqueue: stale_uploaded" in out
    report = json.loads(run("--dry-run", "--json")[0])
    assert report["dry_run"] and report["reclaimed"] == [] and report["reenqueued"] == []
    assert rows.snapshot() == before
    assert sent_video_ids(sqs) == []


@TRANSACTIONAL_DB
def test_force_reclaims_a_healthy_job_on_operator_request(cfg, sqs, rows):
    healthy = rows.processing("w-ok", lease_left=200, started_ago=60, heartbeat=True)
    report = json.loads(run("--force", "--video-id", str(healthy), "--json")[0])
    assert report["reclaimed"] == [healthy] and report["forced"]
    assert rows.status(healthy) == "UPLOADED"
    assert sent_video_ids(sqs) == [healthy]
    with pytest.raises(CommandError, match="no such video"):
        run("--force", "--video-id", "987654321")
    for bad in (["--force"], ["--video-id", "3"], ["--force", "--video-id", "3", "--loop", "1"]):
        with pytest.raises(CommandError) as info:
            run(*bad)
        assert info.value.returncode == 2


@TRANSACTIONAL_DB
def test_redis_down_reclaims_on_lease_expiry_only_and_says_so(cfg, sqs, rows, mixed):
    cfg.CONFIG = dataclasses.replace(cfg.CONFIG, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    out, _ = run()
    assert "(redis UNAVAILABLE)" in out.splitlines()[0]
    assert f"note: {rc.REDIS_DOWN_NOTE}" in out
    report_line = out.splitlines()[0]
    assert report_line.startswith("reclaimed 1, re-enqueued 2,")
    assert rows.status(mixed.expired) == "UPLOADED"
    for video_id in (mixed.silent, mixed.alive, mixed.fresh):
        assert rows.status(video_id) == "PROCESSING"
    assert sent_video_ids(sqs) == sorted([mixed.expired, mixed.stale])
    expired_again = rows.processing("w-dead2", lease_left=-5, started_ago=60, heartbeat=False)
    report = json.loads(run("--json")[0])
    assert report["redis_available"] is False and report["notes"] == [rc.REDIS_DOWN_NOTE]
    assert report["reclaimed"] == [expired_again]
    assert {s["reason"] for s in report["skipped"]} == {rc.LEASE_LIVE_REDIS_DOWN}


# -- the command as a process -----------------------------------------------------------------
FAKE_SQS = types.SimpleNamespace(
    endpoint="http://127.0.0.1:9", url="http://127.0.0.1:9/0/q", captions_url=""
)


def process_env(sqs_like, tmp_path, **extra) -> dict[str, str]:
    return base_env(
        database_url(connection.settings_dict),
        sqs_like,
        tmp_path,
        VIDEO_HEARTBEAT_TTL=HEARTBEAT_TTL,
        **extra,
    )


def run_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", COMMAND, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@TRANSACTIONAL_DB
def test_sqs_down_single_run_exits_1_with_a_clear_message(tmp_path, rows):
    expired = rows.processing("w-dead", lease_left=-5, started_ago=60, heartbeat=False)
    down = types.SimpleNamespace(
        endpoint=f"http://AKIAKEY:s3cr3tpw@127.0.0.1:{free_port()}",
        url="http://127.0.0.1:1/000000000000/q",
        captions_url="",
    )
    done = run_process(process_env(down, tmp_path), "--json")
    assert "s3cr3tpw" not in done.stdout + done.stderr
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["reclaimed"] == [expired] and report["reenqueued"] == []
    assert [e["stage"] for e in report["errors"]] == ["enqueue"]
    assert "Could not send to SQS" in done.stderr and "reconcile failed" in done.stderr
    assert "Traceback" not in done.stderr
    assert rows.status(expired) == "UPLOADED"  # the stale rule re-sends it later


@TRANSACTIONAL_DB
def test_database_down_single_run_exits_1_and_loop_keeps_trying(tmp_path, sqs):
    env = process_env(sqs, tmp_path)
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{free_port()}/nowhere"
    done = run_process(env)
    assert done.returncode == 1
    assert "Is the database (DATABASE_URL) reachable?" in done.stderr
    assert "Traceback" not in done.stderr
    assert "postgres://" not in done.stdout + done.stderr
    loop = ProcessLog(
        "reconcile", [sys.executable, "manage.py", COMMAND, "--loop", "0.3"], env, tmp_path
    )
    try:
        wait_until(lambda: len(loop.events("RECONCILE_TICK")) >= 3, 30, what="three ticks")
        loop.signal(signal.SIGTERM)
        assert loop.wait(15) == 0, loop.tail()
        ticks = loop.events("RECONCILE_TICK")
        stages = {e["stage"] for t in ticks for e in t["errors"]}
        assert stages == {"list_processing", "list_stale_uploaded", "expire_uploads"}
        assert {t["level"] for t in ticks} == {"warning"} and loop.problems() == []
    finally:
        loop.kill()


@TRANSACTIONAL_DB
def test_loop_retries_a_failed_resend_when_sqs_comes_back_and_stops_on_sigterm(tmp_path, rows):
    expired = rows.processing("w-dead", lease_left=-5, started_ago=60, heartbeat=False)
    port = free_port()
    queue_name = f"reconcile-{random.randrange(10**9)}"
    down = types.SimpleNamespace(endpoint=f"http://127.0.0.1:{port}", url="", captions_url="")
    env = process_env(down, tmp_path, VIDEO_SQS_QUEUE_NAME=queue_name)
    loop = ProcessLog(
        "reconcile", [sys.executable, "manage.py", COMMAND, "--loop", "0.5"], env, tmp_path
    )
    server = None
    try:
        failed = loop.wait_event("RECONCILE_TICK", timeout=30, reclaimed=[expired])
        assert [e["stage"] for e in failed["errors"]] == ["enqueue"]
        assert failed["level"] == "warning" and failed["pending_enqueues"] == [expired]
        assert rows.status(expired) == "UPLOADED"
        wait_until(lambda: len(loop.events("RECONCILE_TICK")) >= 2, 20, what="a second tick")

        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        client = boto3.client("sqs", endpoint_url=down.endpoint, region_name="us-east-1")
        url = client.create_queue(QueueName=queue_name)["QueueUrl"]
        resent = loop.wait_event("RECONCILE_TICK", timeout=30, reenqueued=[expired])
        assert resent["errors"] == [] and resent["pending_enqueues"] == []
        got = SqsVideoQueue(client, queue_url=url).receive(wait_seconds=2)
        assert got is not None and json.loads(got.body)["video_id"] == expired
        loop.signal(signal.SIGTERM)
        assert loop.wait(15) == 0, loop.tail()
        assert loop.events("RECONCILE_STOPPED")[0]["signal"] == "SIGTERM"
        ticks = loop.events("RECONCILE_TICK")
        assert all(t["tick"] == i + 1 for i, t in enumerate(ticks))
        assert sum(t["reclaimed"] == [expired] for t in ticks) == 1
        assert loop.problems() == []
    finally:
        loop.kill()
        if server is not None:
            server.stop()


@pytest.mark.parametrize("interval", ["nan", "inf", "-inf", "0", "1e-9", "0.1", "1e12", "soon"])
def test_loop_interval_must_be_finite_and_sane_else_usage_and_exit_2(tmp_path, interval):
    # Before: nan ran passes back to back, 1e-9 thousands a second, inf slept forever
    # while looking alive, 1e12 overflowed into a traceback.
    env = base_env("postgres://postgres@127.0.0.1:5432/unused", FAKE_SQS, tmp_path)
    done = run_process(env, f"--loop={interval}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("usage: manage.py reconcile_video_processing")
    assert "argument --loop: must be a number of seconds from 0.25 to 86400" in done.stderr
    assert "Traceback" not in done.stderr and "RECONCILE_TICK" not in done.stdout


@TRANSACTIONAL_DB
def test_loop_stops_on_sigint_while_waiting(tmp_path, sqs):
    loop = ProcessLog(
        "reconcile",
        [sys.executable, "manage.py", COMMAND, "--loop", "30", "--dry-run"],
        process_env(sqs, tmp_path),
        tmp_path,
    )
    try:
        tick = loop.wait_event("RECONCILE_TICK", timeout=30)
        assert tick["dry_run"] is True and tick["errors"] == []
        t = time.monotonic()
        loop.signal(signal.SIGINT)
        assert loop.wait(10) == 0, loop.tail()
        assert time.monotonic() - t < 3, "the 30 s wait must not delay the stop"
        assert len(loop.events("RECONCILE_TICK")) == 1
    finally:
        loop.kill()


@TRANSACTIONAL_DB
def test_loop_prunes_idempotency_records_older_than_a_day_in_its_cleanup_pass(
    tmp_path, sqs, tenant
):
    from academy.adapters.db.django.idempotency_store import RETENTION
    from apps.api.models import IdempotencyRecord

    for key in ("old", "recent"):
        IdempotencyRecord.objects.create(
            tenant=tenant, key=key, route="POST /api/v1/videos", fingerprint="0" * 64
        )
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - RETENTION - timedelta(minutes=1)
    )
    loop = ProcessLog(
        "reconcile",
        [sys.executable, "manage.py", COMMAND, "--loop", "30"],
        process_env(sqs, tmp_path),
        tmp_path,
    )
    try:
        # The cleanup pass runs at start, then every --cleanup-every: the one pruning route.
        cleanup = loop.wait_event("CLEANUP_PASS", timeout=30)
        assert cleanup["idempotency_records"] == {"removed": 1}
        assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
        loop.signal(signal.SIGTERM)
        assert loop.wait(10) == 0, loop.tail()
        assert loop.problems() == []
    finally:
        loop.kill()


# -- two reconcilers at once ------------------------------------------------------------------
@TRANSACTIONAL_DB
@pytest.mark.postgres
def test_two_reconcilers_in_threads_reclaim_each_video_once(sqs, rows):
    videos = [
        rows.processing(f"w{i}", lease_left=-5, started_ago=60, heartbeat=False) for i in range(30)
    ]
    barrier = threading.Barrier(2, timeout=30)
    reports, errors = [], []

    def reconcile():
        try:
            reconciler = rc.Reconciler(
                DjangoVideoRepository(),
                SqsVideoQueue(sqs.client, queue_url=sqs.url),
                InMemoryProgress(),
                heartbeat_grace_seconds=2,
                reenqueue_after_seconds=REENQUEUE_AFTER,
            )
            barrier.wait()
            reports.append(reconciler.run_once())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reconcile) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    reclaimed = sorted(v for report in reports for v in report.reclaimed)
    assert reclaimed == sorted(videos), "each video reclaimed by exactly one reconciler"
    assert sent_video_ids(sqs) == sorted(videos)
    lost = [s for report in reports for s in report.skipped]
    assert {s["reason"] for s in lost} <= {rc.NOT_RECLAIMABLE}


@TRANSACTIONAL_DB
@pytest.mark.postgres
def test_two_reconciler_processes_reclaim_each_video_once(tmp_path, sqs, rows):
    videos = [
        rows.processing(f"w{i}", lease_left=-5, started_ago=60, heartbeat=False) for i in range(40)
    ]
    env = process_env(sqs, tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", COMMAND, "--json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    reclaimed = sorted(v for report in reports for v in report["reclaimed"])
    assert reclaimed == sorted(videos)
    assert sent_video_ids(sqs) == sorted(videos)
    assert {r["status"] for r in Video.objects.filter(pk__in=videos).values("status")} == {
        "UPLOADED"
    }


@TRANSACTIONAL_DB
def test_loop_removes_dead_claims_output_on_its_cleanup_pass(tmp_path, sqs, tenant):
    video = Video.objects.create(tenant=tenant, title="lecture", lease_token=3)
    base = f"tenants/{tenant.id}/videos/{video.id}/hls"
    for token in (2, 3):
        path = tmp_path / base / str(token) / "master.m3u8"
        path.parent.mkdir(parents=True)
        path.write_text("#EXTM3U\n")
        then = time.time() - 7200
        os.utime(path, (then, then))
    env = process_env(sqs, tmp_path)
    loop = ProcessLog(
        "reconcile", [sys.executable, "manage.py", COMMAND, "--loop", "0.5"], env, tmp_path
    )
    try:
        passed = loop.wait_event("CLEANUP_PASS", timeout=60)
        assert passed["outputs"]["removed_prefixes"] == [f"{base}/2/"]
        assert not (tmp_path / base / "2").exists()
        assert (tmp_path / base / "3" / "master.m3u8").exists()  # the row's live claim
        loop.signal(signal.SIGTERM)
        assert loop.wait(15) == 0, loop.tail()
        assert len(loop.events("CLEANUP_PASS")) == 1  # hourly, not every tick
    finally:
        loop.kill()


@TRANSACTIONAL_DB
def test_loop_keeps_the_image_liveness_file_fresh(tmp_path, sqs):
    from academy.healthcheck import main as healthcheck

    alive = tmp_path / "alive"
    env = process_env(sqs, tmp_path, LIVENESS_FILE=str(alive))
    loop = ProcessLog(
        "reconcile", [sys.executable, "manage.py", COMMAND, "--loop", "0.3"], env, tmp_path
    )
    try:
        loop.wait_event("RECONCILE_TICK", timeout=30)
        wait_until(alive.exists, 10, what="the liveness file")
        first = alive.stat().st_mtime_ns
        wait_until(lambda: alive.stat().st_mtime_ns > first, 10, what="a later pass's write")
        # Stuck after two intervals plus a cleanup pass's slack (600 s).
        assert alive.read_text() == "600.6\n"
        assert healthcheck({"LIVENESS_FILE": str(alive)}) == 0
        loop.signal(signal.SIGTERM)
        assert loop.wait(15) == 0, loop.tail()
    finally:
        loop.kill()
