"""The queue-depth Lambda against moto's SQS and CloudWatch, and the real Redis for heartbeats."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import redis
from botocore.stub import Stubber
from moto import mock_aws

from tests.aws_helpers import load_queue_depth_handler, use_fake_aws
from tests.services import redis_test_url

handler = load_queue_depth_handler()

QUEUE = "academy-video-jobs"
DIMENSIONS = "Service=video-worker,Env=test"
REDIS_TEST_URL = redis_test_url(15)
ALL_METRICS = [
    "video_delayed",
    "video_desired",
    "video_desired_raw",
    "video_dlq_visible",
    "video_inflight",
    "video_visible",
]


@pytest.fixture
def aws(monkeypatch):
    use_fake_aws(monkeypatch)
    with mock_aws():
        yield boto3.client("sqs"), boto3.client("cloudwatch")


def make_queues(sqs, name=QUEUE, *, redrive=True):
    """The video queue and its dead-letter queue, wired as CloudFormation wires them."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    attributes = {}
    if redrive:
        policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 5}
        attributes["RedrivePolicy"] = json.dumps(policy)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, dlq_url


def send(sqs, url, count, **kwargs):
    for video_id in range(count):
        body = {"video_id": video_id, "tenant_id": 7, "request_id": str(uuid.uuid4())}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), **kwargs)


def take_in_flight(sqs, url, count):
    """Receive `count` messages without deleting them, as a worker does while it transcodes."""
    taken = 0
    while taken < count:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=count - taken, VisibilityTimeout=600
        )
        taken += len(got.get("Messages", []))
    return taken


def published(cloudwatch, metric, dimensions=DIMENSIONS):
    """The single value the Lambda published for `metric`, read back from CloudWatch."""
    now = datetime.now(UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace="Academy/Video",
        MetricName=metric,
        Dimensions=[
            {"Name": name, "Value": value}
            for name, value in (pair.split("=") for pair in dimensions.split(","))
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    assert len(stats) == 1 and stats[0]["SampleCount"] == 1, stats
    return stats[0]["Maximum"]


def metric_names(cloudwatch):
    return sorted(
        m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Academy/Video")["Metrics"]
    )


def one_log_line(capsys):
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_publishes_depths_and_desired_workers(aws, monkeypatch, capsys):
    sqs, cloudwatch = aws
    url, dlq_url = make_queues(sqs)
    send(sqs, url, 7)
    take_in_flight(sqs, url, 2)
    send(sqs, url, 2, DelaySeconds=300)
    send(sqs, dlq_url, 3)
    monkeypatch.setenv("VIDEO_TARGET_BACKLOG_PER_WORKER", "2")
    monkeypatch.setenv("VIDEO_MIN_WORKERS", "1")
    monkeypatch.setenv("VIDEO_MAX_WORKERS", "10")
    monkeypatch.setenv("METRIC_DIMENSIONS", DIMENSIONS)

    result = handler.lambda_handler({"source": "aws.events"}, None)

    assert result["ok"] is True, result
    assert (result["queue"], result["dlq"]) == (QUEUE, f"{QUEUE}-dlq")
    expected = {
        "video_visible": 5,
        "video_inflight": 2,
        "video_delayed": 2,
        "video_dlq_visible": 3,
        "video_desired_raw": 4,  # ceil((5 waiting + 2 busy) / 2); delayed retries excluded
        "video_desired": 4,
    }
    assert {name: result[name] for name in expected} == expected
    assert result["published"] == ALL_METRICS
    for name, value in expected.items():
        assert published(cloudwatch, name) == value, name
    logged = one_log_line(capsys)
    assert logged["event"] == "QUEUE_DEPTH_METRIC_PUBLISHED"
    assert {name: logged[name] for name in expected} == expected


def test_clamps_to_max_workers(aws, monkeypatch, capsys):
    sqs, cloudwatch = aws
    url, _ = make_queues(sqs)
    send(sqs, url, 12)
    monkeypatch.setenv("VIDEO_MAX_WORKERS", "3")
    monkeypatch.setenv("METRIC_DIMENSIONS", DIMENSIONS)

    result = handler.lambda_handler({}, None)

    assert (result["video_desired_raw"], result["video_desired"]) == (12, 3)
    assert published(cloudwatch, "video_desired") == 3
    assert published(cloudwatch, "video_desired_raw") == 12


def test_queue_url_and_explicit_dlq_name_without_redrive(aws, monkeypatch, capsys):
    sqs, cloudwatch = aws
    url, dlq_url = make_queues(sqs, "other-jobs", redrive=False)
    send(sqs, url, 1)
    send(sqs, dlq_url, 2)
    monkeypatch.setenv("VIDEO_SQS_QUEUE_URL", url)
    monkeypatch.setenv("VIDEO_DLQ_NAME", "other-jobs-dlq")
    monkeypatch.setenv("METRIC_NAMESPACE", "Academy/Video")
    monkeypatch.setenv("METRIC_DIMENSIONS", "Env=dev")

    result = handler.lambda_handler({}, None)

    assert result["ok"] is True, result
    assert (result["queue"], result["video_visible"], result["video_dlq_visible"]) == (
        "other-jobs",
        1,
        2,
    )
    assert published(cloudwatch, "video_dlq_visible", "Env=dev") == 2


def test_queue_without_dead_letter_queue_publishes_the_rest(aws, capsys):
    sqs, cloudwatch = aws
    make_queues(sqs, redrive=False)

    result = handler.lambda_handler({}, None)

    assert result["ok"] is True, result
    assert result["dlq"] == "" and result["video_dlq_visible"] is None
    assert "video_dlq_visible" not in metric_names(cloudwatch)
    assert "video_desired" in metric_names(cloudwatch)


def test_missing_queue_is_a_clear_error(aws, monkeypatch, capsys):
    _, cloudwatch = aws
    monkeypatch.setenv("VIDEO_SQS_QUEUE_NAME", "no-such-queue")

    result = handler.lambda_handler({}, None)

    assert result["ok"] is False
    assert result["error_code"] == "QUEUE_NOT_FOUND"
    assert "no-such-queue" in result["error"]
    assert result["published"] == []
    assert metric_names(cloudwatch) == []
    logged = one_log_line(capsys)
    assert logged["event"] == "QUEUE_DEPTH_METRIC_FAILED"
    assert logged["error_code"] == "QUEUE_NOT_FOUND"


def test_deleted_dead_letter_queue_does_not_stop_scaling(aws, capsys):
    sqs, cloudwatch = aws
    url, dlq_url = make_queues(sqs)
    send(sqs, url, 2)
    sqs.delete_queue(QueueUrl=dlq_url)

    result = handler.lambda_handler({}, None)

    assert result["ok"] is False
    assert result["error_code"] == "QUEUE_NOT_FOUND"
    assert f"{QUEUE}-dlq" in result["error"]
    assert result["video_desired"] == 2
    assert "video_desired" in metric_names(cloudwatch)
    assert "video_dlq_visible" not in metric_names(cloudwatch)


def test_throttled_sqs_is_reported(aws, capsys):
    sqs, cloudwatch = aws
    url, _ = make_queues(sqs)
    with Stubber(sqs) as stub:
        stub.add_response("get_queue_url", {"QueueUrl": url}, {"QueueName": QUEUE})
        stub.add_client_error(
            "get_queue_attributes",
            service_error_code="Throttling",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        result = handler.run({}, sqs=sqs, cloudwatch=cloudwatch)

    assert result["ok"] is False
    assert result["error_code"] == "THROTTLED"
    assert result["retryable"] is True
    assert "Throttling" in result["error"]
    assert metric_names(cloudwatch) == []
    assert one_log_line(capsys)["error_code"] == "THROTTLED"


def test_throttled_put_metric_data_is_reported(aws, capsys):
    sqs, cloudwatch = aws
    url, _ = make_queues(sqs)
    send(sqs, url, 1)
    with Stubber(cloudwatch) as stub:
        stub.add_client_error("put_metric_data", service_error_code="Throttling")
        result = handler.run({}, sqs=sqs, cloudwatch=cloudwatch)

    assert result["ok"] is False
    assert result["error_code"] == "THROTTLED"
    assert "PutMetricData" in result["error"]
    assert result["published"] == []
    assert result["video_visible"] == 1  # measured, just not published


def test_missing_attributes_are_reported(aws, capsys):
    sqs, cloudwatch = aws
    url, _ = make_queues(sqs)
    with Stubber(sqs) as stub:
        stub.add_response("get_queue_url", {"QueueUrl": url})
        stub.add_response(
            "get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "1"}}
        )
        result = handler.run({}, sqs=sqs, cloudwatch=cloudwatch)

    assert result["ok"] is False
    assert result["error_code"] == "ATTRIBUTES_MISSING"
    assert "ApproximateNumberOfMessagesNotVisible" in result["error"]
    assert metric_names(cloudwatch) == []


@pytest.fixture
def heartbeats():
    """Heartbeat keys in the real Redis (db 15) under a tenant id no other test uses."""
    client = redis.Redis.from_url(REDIS_TEST_URL, decode_responses=True)
    tenant = f"99{uuid.uuid4().int % 10**9}"
    made: list[str] = []

    def beat(video_id: int) -> None:
        key = f"tenant:{tenant}:video:{video_id}:heartbeat"
        client.set(key, f"worker-{video_id}", ex=60)
        made.append(key)

    yield client, beat
    if made:
        client.delete(*made)
    client.close()


@pytest.mark.redis
def test_fast_ack_counts_busy_workers_from_heartbeats(aws, heartbeats, monkeypatch, capsys):
    sqs, cloudwatch = aws
    client, beat = heartbeats
    url, _ = make_queues(sqs)
    send(sqs, url, 4)
    # Fast ack: three workers received and deleted their messages and are still transcoding.
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    before = handler.count_heartbeats(client)  # db 15 may hold another run's live keys
    for video_id in range(3):
        beat(video_id)
    monkeypatch.setenv("VIDEO_FAST_ACK", "1")
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setenv("VIDEO_MIN_WORKERS", "0")
    monkeypatch.setenv("METRIC_DIMENSIONS", DIMENSIONS)

    result = handler.lambda_handler({}, None)

    assert result["ok"] is True, result
    assert (result["video_visible"], result["video_inflight"]) == (1, 0)
    assert result["video_heartbeats"] == before + 3
    assert result["video_desired"] == 1 + before + 3  # not 1: busy workers are kept
    assert published(cloudwatch, "video_desired") == 1 + before + 3


def test_fast_ack_with_redis_down_withholds_desired(aws, monkeypatch, capsys):
    sqs, cloudwatch = aws
    url, _ = make_queues(sqs)
    send(sqs, url, 2)
    monkeypatch.setenv("VIDEO_FAST_ACK", "1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/15")  # nothing listens on port 1

    result = handler.lambda_handler({}, None)

    assert result["ok"] is False
    assert result["error_code"] == "HEARTBEATS_UNAVAILABLE"
    assert result["video_visible"] == 2
    assert "video_desired" not in result
    assert metric_names(cloudwatch) == [
        "video_delayed",
        "video_dlq_visible",
        "video_inflight",
        "video_visible",
    ]
    assert one_log_line(capsys)["event"] == "QUEUE_DEPTH_METRIC_FAILED"


def test_credentials_in_the_endpoint_url_never_reach_the_log(aws, capsys):
    from botocore.config import Config

    from bench.harness import free_port

    _, cloudwatch = aws
    unreachable = boto3.client(
        "sqs",
        endpoint_url=f"http://AKIAKEY:s3cr3tpw@127.0.0.1:{free_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    result = handler.run({}, sqs=unreachable, cloudwatch=cloudwatch)
    assert result["error_code"] == "AWS_UNAVAILABLE"
    assert "http://***@127.0.0.1:" in result["error"]  # botocore names the URL; we hide its secret
    logged = capsys.readouterr().out
    assert "s3cr3tpw" not in logged and "AKIAKEY" not in logged
    assert "s3cr3tpw" not in json.dumps(result)
