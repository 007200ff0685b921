"""End-to-end harness: moto's server on loopback, worker processes, their JSON logs."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
from prometheus_client.parser import text_string_to_metric_families

from academy.config import DEVELOPMENT_ENV
from bench.harness import FAKE_WORKER
from tests.services import redis_test_url

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
TEST_REDIS_URL = redis_test_url(2)


def database_url(settings_dict: dict[str, Any]) -> str:
    """The URL of the database pytest-django set up, for child processes."""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    user = settings_dict.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


class SqsFixture:
    """A fresh queue on moto's server; `peek` counts what a user of the queue would see."""

    def __init__(self, endpoint: str, visibility_timeout: int = 30) -> None:
        self.endpoint = endpoint
        self.client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        self.name = f"videos-{uuid.uuid4().hex[:10]}"
        self.url = self.client.create_queue(
            QueueName=self.name,
            Attributes={"VisibilityTimeout": str(visibility_timeout)},
        )["QueueUrl"]
        # The caption jobs' own queue (VIDEO_CAPTIONS_QUEUE_URL), beside the video queue.
        self.captions_url = self.client.create_queue(
            QueueName=f"{self.name}-captions",
            Attributes={"VisibilityTimeout": str(visibility_timeout)},
        )["QueueUrl"]

    def send(self, video_id: Any, tenant_id: Any, body: str | None = None) -> str:
        text = body or json.dumps(
            {"video_id": video_id, "tenant_id": tenant_id, "request_id": str(uuid.uuid4())}
        )
        return self.client.send_message(QueueUrl=self.url, MessageBody=text)["MessageId"]

    def counts(self) -> tuple[int, int, int]:
        attrs = self.client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
            int(attrs["ApproximateNumberOfMessagesDelayed"]),
        )

    def receive_now(self, wait: int = 0) -> list[dict]:
        return self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, VisibilityTimeout=1
        ).get("Messages", [])


def worker_args(fake_seconds: float | None, *extra: str) -> list[str]:
    """A real worker; with `fake_seconds` it runs the FakeTranscoder instead of ffmpeg."""
    if fake_seconds is None:
        return [sys.executable, "-m", "apps.worker.video_worker.sqs_main", *extra]
    return [*FAKE_WORKER, *extra]


def base_env(db_url: str, sqs: SqsFixture, storage_root: Path, **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_", "AWS_"))}
    env.update(AWS_ENV)
    env.update(DEVELOPMENT_ENV)  # debug on and development secrets, said explicitly
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "academy.settings",
            "DATABASE_URL": db_url,
            "REDIS_URL": TEST_REDIS_URL,
            "AWS_ENDPOINT_URL": sqs.endpoint,
            "VIDEO_SQS_QUEUE_URL": sqs.url,
            "VIDEO_STORAGE_URL": f"file://{storage_root}",
            "VIDEO_WORK_DIR": str(storage_root.parent / "work"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    captions_url = getattr(sqs, "captions_url", "")  # stand-ins for a dead SQS have none
    if captions_url:
        env["VIDEO_CAPTIONS_QUEUE_URL"] = captions_url
    env.update({k: str(v) for k, v in extra.items()})
    return env


Samples = dict[tuple[str, tuple], float]


def scrape_text(port: int) -> str:
    """A process's /metrics exposition, read over HTTP the way Prometheus does."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def scrape(port: int) -> Samples:
    """Every sample of a /metrics scrape, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scrape_text(port))
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; a series that was never written reads 0."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
