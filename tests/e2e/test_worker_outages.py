"""Services going away under a running worker: Redis mid-job, the database between jobs."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

from apps.support.video.models import Video
from tests.e2e.harness import free_port, wait_until, worker_args
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def start_private_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    wait_until(lambda: _pings(client), 10, what="private redis")
    return proc


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_redis_stopped_mid_job_and_restarted_job_completes(sqs, spawn, make_video):
    port = free_port()
    server = start_private_redis(port)
    try:
        video = make_video()
        sqs.send(video.id, video.tenant_id)
        worker = spawn(
            "worker",
            worker_args(9, "--max-messages", "1"),
            FAKE_TRANSCODE_SECONDS="9",
            VIDEO_HEARTBEAT_TTL="3",
            REDIS_URL=f"redis://127.0.0.1:{port}/0",
        )
        worker.wait_event("VIDEO_CLAIMED")
        hb = f"tenant:{video.tenant_id}:video:{video.pk}:heartbeat"
        client = redis.Redis(port=port, decode_responses=True)
        wait_until(lambda: client.exists(hb), 5, what="first heartbeat")
        server.terminate()
        server.wait(10)
        time.sleep(3.5)
        server = start_private_redis(port)  # empty: the worker must write the keys again
        wait_until(lambda: client.exists(hb), 5, what="heartbeat written again after restart")
        assert worker.wait(30) == 0, worker.tail()
        video.refresh_from_db()
        assert video.status == "READY"
        warnings = worker.events("REDIS_UNAVAILABLE")
        assert 1 <= len(warnings) <= 5, "one warning per heartbeat interval, not per write"
        assert worker.problems() == []
    finally:
        server.terminate()
        server.wait(10)


def test_database_down_nothing_acknowledged_then_recovers(sqs, spawn, make_video, db_url):
    from django.db import connection

    proxy = TcpProxy(int(connection.settings_dict.get("PORT") or 5432))
    proxy.start()
    video = make_video()
    proxied = db_url.replace(
        f"@{connection.settings_dict.get('HOST') or '127.0.0.1'}:"
        f"{connection.settings_dict.get('PORT') or 5432}/",
        f"@127.0.0.1:{proxy.port}/",
    )
    assert str(proxy.port) in proxied
    worker = spawn(
        "worker",
        worker_args(0.2, "--exit-when-idle", "8"),
        FAKE_TRANSCODE_SECONDS="0.2",
        DATABASE_URL=proxied,
    )
    worker.wait_event("WORKER_STARTED")
    proxy.cut()
    sqs.send(video.id, video.tenant_id)
    first = worker.wait_event("WORKER_LOOP_ERROR", timeout=15)
    assert first["database_error"] is True
    # While the database is away the message stays unacknowledged and keeps coming back.
    time.sleep(3)
    assert Video.objects.get(pk=video.pk).status == "UPLOADED"
    assert sum(sqs.counts()) == 1
    proxy.start()
    assert worker.wait(60) == 0, worker.tail()
    video.refresh_from_db()
    assert video.status == "READY"
    assert len(worker.events("SQS_MESSAGE_RECEIVED")) >= 2
    assert len(worker.events("SQS_JOB_COMPLETED")) == 1
    assert sqs.counts() == (0, 0, 0)
    proxy.cut()


def test_credentials_in_aws_endpoint_url_never_reach_the_log(spawn):
    # Before: botocore's "Could not connect to the endpoint URL: http://key:secret@…" was
    # logged as it is, in WORKER_LOOP_ERROR and in its traceback.
    endpoint = f"http://AKIAKEY:s3cr3tpw@127.0.0.1:{free_port()}"
    worker = spawn(
        "worker",
        worker_args(0.1),
        AWS_ENDPOINT_URL=endpoint,
        VIDEO_SQS_QUEUE_URL=f"{endpoint}/000000000000/videos",
    )
    error = worker.wait_event("WORKER_LOOP_ERROR", timeout=60)
    assert "http://***@127.0.0.1" in error["error"]
    worker.signal()
    assert worker.wait(60) == 0
    everything = worker.path.read_text() + worker.err_path.read_text()
    assert "Could not connect to the endpoint URL" in everything
    assert "s3cr3tpw" not in everything and "AKIAKEY" not in everything
