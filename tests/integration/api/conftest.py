"""The API under Django's test client, on the real PostgreSQL and Redis, SQS on moto."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from django.conf import settings
from django.test import Client

from academy import current
from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from academy.bootstrap import ApiUseCases, Services, bootstrap
from apps.api.keys.api_keys import issue_key
from apps.support.video.models import Tenant
from src.application.ports.video_repository import VideoResult
from src.application.storage_keys import job_output_prefix
from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client
from src.infrastructure.queue.sqs_queue import SqsVideoQueue
from src.infrastructure.storage.local_storage import LocalStorage
from tests.aws_helpers import use_fake_aws
from tests.services import redis_test_url

# A Redis database of its own: tenant and video ids restart with every test database, and
# other suites use database 0.
API_TEST_REDIS_URL = redis_test_url(11)

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "trace_id"}


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_FIELDS <= set(body)
    assert (body["status"], body["code"]) == (status, code)
    assert body["trace_id"] == response["X-Trace-Id"]
    assert body["type"] == f"/api/v1/problems/{code}"
    assert "Traceback" not in response.content.decode()
    return body


@dataclass
class ApiHarness:
    client: Client
    tenant: Tenant
    key: str
    services: Services  # the adapters the tests reach into
    use_cases: ApiUseCases  # what the API serves with (from `services`)
    storage_root: Path
    sqs: object
    queue_url: str
    others: list[tuple[Tenant, str]] = field(default_factory=list)

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def post_json(self, path: str, body: object, key: str | None = None, **headers):
        return self.client.post(
            path,
            data=json.dumps(body),
            content_type="application/json",
            headers={**self.headers(key), **headers},
        )

    def get(self, path: str, key: str | None = None, **headers):
        return self.client.get(path, headers={**self.headers(key), **headers})

    def put_bytes(self, path: str, data: bytes, key: str | None = None):
        return self.client.put(
            path, data=data, content_type="application/octet-stream", headers=self.headers(key)
        )

    def messages(self) -> list[dict]:
        """Every job message sent so far (received and hidden, so each shows up once)."""
        out = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=600,
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)

    def rebuild(self, **config_changes) -> ApiUseCases:
        """Serve with the same adapters and these settings changed (limits, TTLs)."""
        return self.serve(dataclasses.replace(self.services.config, **config_changes))

    def serve(self, config=None, **adapters) -> ApiUseCases:
        """Serve with the same adapters but those passed (and `config`, when given)."""
        old = self.services
        adapters = {
            "repository": old.repository,
            "queue": old.queue,
            "progress": old.progress,
            "storage": old.storage,
            **adapters,
        }
        self.services = bootstrap(config or old.config, **adapters)
        self.use_cases = self.services.api()
        current.override(self.use_cases)
        return self.use_cases

    def create(self, **body) -> dict:
        response = self.post_json("/api/v1/videos", {"title": "Lecture", **body})
        assert response.status_code == 201, response.content
        return response.json()

    def uploaded(self, data: bytes = b"source bytes", **body) -> dict:
        video = self.create(**body)
        assert self.put_bytes(f"/api/v1/videos/{video['id']}/source", data).status_code == 200
        done = self.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {})
        assert done.status_code == 202, done.content
        return done.json()

    def new_tenant(self, slug: str) -> tuple[Tenant, str]:
        tenant = Tenant.objects.create(slug=slug, name=slug)
        _row, key = issue_key(tenant, "other", settings.CONFIG.api_key_pepper)
        return tenant, key


# A published output as a worker leaves it: master, one rendition, a segment, a thumbnail.
PUBLISHED_FILES = {
    "master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8\n",
    "360p/index.m3u8": b"#EXTM3U\n#EXTINF:6.0,\nseg_000.ts\n#EXT-X-ENDLIST\n",
    "360p/seg_000.ts": bytes(range(256)) * 40,
    "thumbnail.jpg": b"\xff\xd8jpeg",
}


def publish(api: ApiHarness, video_id: int, files: dict[str, bytes]) -> str:
    """Claim and complete like a worker, with `files` stored under the claim's prefix (the
    opaque `media/{video}/{claim}` one, as the worker derives it); the prefix."""
    repo = api.services.repository
    lease = repo.try_claim_video(video_id, "worker-1")
    prefix = job_output_prefix(lease.media_salt, lease.token)
    for name, data in files.items():
        path = api.storage_root / prefix / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert repo.complete(
        lease,
        VideoResult(
            hls_key=f"{prefix}/master.m3u8",
            thumbnail_key=f"{prefix}/thumbnail.jpg",
            renditions=[
                {
                    "name": "360p",
                    "width": 640,
                    "height": 360,
                    "bandwidth": 900000,
                    "playlist": "360p/index.m3u8",
                }
            ],
        ),
    )
    return prefix


@pytest.fixture
def redis_progress():
    client = redis_client(API_TEST_REDIS_URL)
    yield RedisProgressAdapter(client)
    for key in client.scan_iter("tenant:*"):
        client.delete(key)
    client.close()


@pytest.fixture
def api(db, tmp_path, monkeypatch, redis_progress) -> ApiHarness:
    from moto import mock_aws

    use_fake_aws(monkeypatch)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName=f"api-test-{os.getpid()}")["QueueUrl"]
        root = tmp_path / "media"
        root.mkdir()
        services = bootstrap(
            settings.CONFIG,
            repository=DjangoVideoRepository(),
            queue=SqsVideoQueue(sqs, queue_url=queue_url),
            progress=redis_progress,
            storage=LocalStorage(root),
        )
        cases = services.api()
        current.override(cases)
        tenant = Tenant.objects.create(slug="academy-a", name="Academy A")
        _row, key = issue_key(tenant, "tests", settings.CONFIG.api_key_pepper)
        try:
            yield ApiHarness(Client(), tenant, key, services, cases, root, sqs, queue_url)
        finally:
            current.override(None)


@pytest.fixture(scope="module")
def moto_server():
    """moto as a real HTTP server on loopback: presigned URLs are fetched like S3's."""
    import logging

    from moto.server import ThreadedMotoServer

    from bench.harness import free_port

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_api(api: ApiHarness, moto_server, monkeypatch) -> ApiHarness:
    """The same API with its sources in a bucket on moto's server (part size 5 MiB)."""
    from src.infrastructure.storage.factory import s3_client
    from src.infrastructure.storage.s3_storage import S3Storage

    client = s3_client("us-east-1", moto_server)
    bucket = f"media-{os.getpid()}-{id(api)}"
    client.create_bucket(Bucket=bucket)
    api.s3 = client
    api.bucket = bucket
    api.serve(
        dataclasses.replace(api.services.config, upload_part_bytes=5 * 1024 * 1024),
        storage=S3Storage(client, bucket, "media"),
    )
    return api
