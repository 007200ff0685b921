"""Services going away under a running worker: Redis mid-job, the database between jobs."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import redis

from apps.support.video.models import Video
from bench.harness import free_port, wait_until
from tests.e2e.harness import worker_args
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
        worker.wait_event("REDIS_UNAVAILABLE", timeout=10)  # the job goes on without Redis
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


def test_database_outage_holds_receiving_and_spends_no_receive_budget(
    sqs, spawn, make_video, db_url
):
    import json

    from django.db import connection

    # The shipped redrive: five receives and the message goes to the dead-letter queue.
    dlq_url = sqs.client.create_queue(QueueName=f"{sqs.name}-dlq")["QueueUrl"]
    dlq_arn = sqs.client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 5}
    sqs.client.set_queue_attributes(
        QueueUrl=sqs.url, Attributes={"RedrivePolicy": json.dumps(policy)}
    )
    settings = connection.settings_dict
    proxy = TcpProxy(int(settings.get("PORT") or 5432))
    proxy.refuse()  # the database is down before the worker starts
    proxied = db_url.replace(
        f"@{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/",
        f"@127.0.0.1:{proxy.port}/",
    )
    first, second = make_video(), make_video()
    worker = spawn(
        "worker",
        worker_args(0.2, "--max-messages", "2"),
        FAKE_TRANSCODE_SECONDS="0.2",
        DATABASE_URL=proxied,
    )
    try:
        at_start = worker.wait_event("WORKER_DEPENDENCY_DOWN", timeout=30)
        assert (at_start["dependency"], at_start["receiving"]) == ("database", False)
        sqs.send(first.id, first.tenant_id)
        looked = proxy.refused
        wait_until(lambda: proxy.refused >= looked + 3, 60, what="three more database checks")
        assert not worker.events("SQS_MESSAGE_RECEIVED")  # it waits in the queue, untouched
        proxy.restore()
        worker.wait_event("WORKER_RESUMED", timeout=30, check="dependency:database")
        worker.wait_event("SQS_JOB_COMPLETED", timeout=60, video_id=first.pk)

        proxy.refuse()  # down again, between two jobs
        sqs.send(second.id, second.tenant_id)
        wait_until(lambda: len(worker.events("WORKER_DEPENDENCY_DOWN")) == 2, 30, what="hold")
        # Before: every receive met the error and the message came back 1, 2, 4, 8 s later:
        # five receives in about 30 s, then the dead-letter queue. Now the worker keeps
        # looking at the database, not at the queue.
        looked = proxy.refused
        wait_until(lambda: proxy.refused >= looked + 5, 60, what="five more database checks")
        assert len(worker.events("SQS_MESSAGE_RECEIVED")) == 2
        assert Video.objects.get(pk=second.pk).status == "UPLOADED"
        assert sum(sqs.counts()) == 1  # still in the queue, not dead-lettered

        proxy.restore()
        worker.wait_event("SQS_JOB_COMPLETED", timeout=60, video_id=second.pk)
        assert worker.wait(30) == 0, worker.tail()
        received = [
            (e["video_id"], e["receive_count"]) for e in worker.events("SQS_MESSAGE_RECEIVED")
        ]
        assert received == [(first.pk, 1), (second.pk, 1), (second.pk, 2)]
        assert [Video.objects.get(pk=v.pk).status for v in (first, second)] == ["READY"] * 2
        assert sqs.counts() == (0, 0, 0)
        dead = sqs.client.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"
        assert worker.problems() == []
    finally:
        proxy.cut()


def test_completion_is_logged_when_the_delete_fails_and_the_duplicate_is_skipped(
    moto_endpoint, spawn, make_video
):
    from urllib.parse import urlparse

    from tests.e2e.harness import SqsFixture

    sqs = SqsFixture(moto_endpoint)
    proxy = TcpProxy(urlparse(moto_endpoint).port)  # the worker reaches SQS through it
    proxy.start()
    via_proxy = f"http://127.0.0.1:{proxy.port}"
    video = make_video()
    sqs.send(video.id, video.tenant_id)
    worker = spawn(
        "worker",
        worker_args(3, "--max-messages", "1"),
        FAKE_TRANSCODE_SECONDS="3",
        sqs=sqs,
        VIDEO_VISIBILITY_TIMEOUT=2,  # an unextended receipt comes back 2 s later
        AWS_ENDPOINT_URL=via_proxy,
        VIDEO_SQS_QUEUE_URL=sqs.url.replace(moto_endpoint, via_proxy),
    )
    try:
        worker.wait_event("VIDEO_CLAIMED", timeout=30)
        proxy.cut()  # SQS unreachable for the rest of the job: the delete will fail
        # Before: the delete's error escaped as WORKER_LOOP_ERROR and no SQS_JOB_COMPLETED
        # was logged, although the row was READY.
        completed = worker.wait_event("SQS_JOB_COMPLETED", timeout=60, video_id=video.pk)
        failed = worker.wait_event("SQS_ACK_FAILED", timeout=60, video_id=video.pk)
        assert failed["action"] == "delete" and "EndpointConnectionError" in failed["error"]
        assert worker.wait(60) == 0, worker.tail()
        assert not worker.events("WORKER_LOOP_ERROR")
        assert completed["hls_key"] and Video.objects.get(pk=video.pk).status == "READY"
        results = [e["result"] for e in worker.events("handler.handle() returned")]
        assert results == ["ok"]
    finally:
        proxy.cut()
    # The undeleted message comes back; the next worker's claim finds the video READY.
    second = spawn("worker-2", worker_args(0.1, "--max-messages", "1"), sqs=sqs)
    assert second.wait(60) == 0, second.tail()
    assert second.events("handler.handle() returned")[0]["result"] == "skip:claimed"
    assert sqs.counts() == (0, 0, 0)
    assert Video.objects.get(pk=video.pk).lease_token == 1  # never processed twice
