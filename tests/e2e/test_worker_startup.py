"""Starting the worker with a bad configuration: exit 1 and one clear line, no traceback."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.harness import worker_args

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIDEO_LEASE_SECONDS": "abc"}, "VIDEO_LEASE_SECONDS must be an integer, got 'abc'"),
        ({"VIDEO_FAST_ACK": "sometimes"}, "VIDEO_FAST_ACK must be 0 or 1"),
        ({"VIDEO_STORAGE_URL": "ftp://media"}, "VIDEO_STORAGE_URL must be a URL"),
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0"),
        # Each of these used to start a worker that then failed every job or every claim.
        (
            {"VIDEO_HEARTBEAT_TTL": "60", "VIDEO_LEASE_SECONDS": "20"},
            "VIDEO_LEASE_SECONDS (20) must be at least 2 renewal intervals",
        ),
        (
            {"VIDEO_WORK_DIR": "/dev/null/work"},
            "VIDEO_WORK_DIR '/dev/null/work' cannot be a folder",
        ),
        ({"WORKER_ID": "w" * 200}, "WORKER_ID must be at most 128 characters, got 200"),
        (
            {"VIDEO_LEASE_SECONDS": "1000000000000"},
            "VIDEO_LEASE_SECONDS must be between 1 and 86400",
        ),
        ({"REDIS_URL": "redis://127.0.0.1:6379/one"}, "REDIS_URL's database must be a number"),
    ],
)
def test_bad_configuration_exits_1_with_clear_message(spawn, env, message):
    worker = spawn("worker", worker_args(None, "--exit-when-idle", "2"), **env)
    assert worker.wait(60) == 1
    err = worker.err_path.read_text()
    assert f"configuration error: {message}" in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_a_queue_made_after_the_worker_started_is_waited_for(spawn, sqs, make_video):
    # Compose starts the worker and the setup that makes the queue at once. Before: the
    # worker exited 1 ("does not exist") and its container restarted until setup was done.
    name = f"later-{uuid.uuid4().hex[:10]}"
    worker = spawn(
        "worker",
        worker_args(0.1, "--max-messages", "1"),
        VIDEO_SQS_QUEUE_URL="",
        VIDEO_SQS_QUEUE_NAME=name,
    )
    missing = worker.wait_event("WORKER_QUEUE_MISSING", timeout=60)
    assert f"SQS queue '{name}' does not exist" in missing["error"]
    assert worker.proc.poll() is None  # waiting, not exited
    url = sqs.client.create_queue(QueueName=name)["QueueUrl"]
    video = make_video()
    sqs.client.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {"video_id": video.pk, "tenant_id": video.tenant_id, "request_id": "late-queue"}
        ),
    )
    worker.wait_event("SQS_JOB_COMPLETED", timeout=60, video_id=video.pk)
    assert worker.wait(60) == 0, worker.tail()
    assert len(worker.events("WORKER_QUEUE_MISSING")) == 1
    assert worker.events("WORKER_RESUMED")[0]["check"] == "queue"
    assert worker.problems() == []


def test_bad_arguments_exit_2(spawn):
    worker = spawn("worker", worker_args(None, "--max-messages", "0"))
    assert worker.wait(60) == 2
    assert "--max-messages must be at least 1" in worker.err_path.read_text()


@pytest.mark.parametrize("idle", ["nan", "inf", "0", "0.001", "-3", "1e300", "later"])
def test_exit_when_idle_must_be_finite_and_at_least_a_second(spawn, idle):
    # Before: nan and 1e300 ended in a traceback, inf never exited, 0.001 spun the poll.
    worker = spawn("worker", worker_args(None, f"--exit-when-idle={idle}"))
    assert worker.wait(60) == 2
    err = worker.err_path.read_text()
    assert err.startswith("usage: sqs_main")
    assert "argument --exit-when-idle: must be a number of seconds from 1 to 604800" in err
    assert "Traceback" not in err and not worker.events("WORKER_STARTED")
