"""What the worker benchmarks share: a dedicated PostgreSQL database, moto's server for SQS,
Redis, local storage, and workers started as real processes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg2

from academy.config import DEVELOPMENT_ENV

ROOT = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class BenchEnv:
    db_url: str
    endpoint: str
    queue_url: str
    storage_root: Path
    redis_url: str

    def env(self, **extra: object) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_"))}
        env.update(AWS)
        env.update(DEVELOPMENT_ENV)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "academy.settings",
                "DATABASE_URL": self.db_url,
                "REDIS_URL": self.redis_url,
                "AWS_ENDPOINT_URL": self.endpoint,
                "VIDEO_SQS_QUEUE_URL": self.queue_url,
                "VIDEO_STORAGE_URL": f"file://{self.storage_root}",
                "VIDEO_WORK_DIR": str(self.storage_root.parent / "work"),
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def sqs(self):
        return boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_queue(self, visibility_timeout: int = 300) -> str:
        self.queue_url = self.sqs().create_queue(
            QueueName=f"bench-{uuid.uuid4().hex[:8]}",
            Attributes={"VisibilityTimeout": str(visibility_timeout)},
        )["QueueUrl"]
        return self.queue_url


def _recreate_database(name: str) -> str:
    conn = psycopg2.connect(**PG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return f"postgres://postgres@127.0.0.1:5432/{name}"


@contextlib.contextmanager
def bench_env(name: str, redis_db: int = 3) -> Iterator[BenchEnv]:
    """A fresh database (migrated), a moto server and a queue; Django set up in this process."""
    from moto.server import ThreadedMotoServer

    db_url = _recreate_database(f"bench_{name}")
    os.environ.update(AWS)
    os.environ.update(DEVELOPMENT_ENV)
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "academy.settings"
    os.environ["LOG_LEVEL"] = "WARNING"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env={**os.environ},
        check=True,
    )
    import django

    django.setup()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: one line a request
    with socket_port() as port:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    (tmp / "media").mkdir()
    env = BenchEnv(
        db_url, f"http://127.0.0.1:{port}", "", tmp / "media", f"redis://127.0.0.1:6379/{redis_db}"
    )
    env.new_queue()
    try:
        yield env
    finally:
        server.stop()
        from django.db import connections

        connections.close_all()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


def make_videos(env: BenchEnv, count: int, source: Path | None = None) -> list:
    """UPLOADED videos with a stored source (bytes of `source`, or a placeholder)."""
    from apps.support.video.models import Tenant, Video
    from src.application.storage_keys import source_key

    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    data = source.read_bytes() if source else b"placeholder source"
    videos = []
    for _ in range(count):
        v = Video.objects.create(tenant=tenant, title="bench")
        key = source_key(tenant.id, v.id, source.name if source else "lecture.mp4")
        path = env.storage_root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        Video.objects.filter(pk=v.pk).update(source_key=key)
        videos.append(v)
    return videos


def enqueue(env: BenchEnv, videos: list) -> None:
    client = env.sqs()
    for i in range(0, len(videos), 10):
        client.send_message_batch(
            QueueUrl=env.queue_url,
            Entries=[
                {
                    "Id": str(v.pk),
                    "MessageBody": json.dumps(
                        {
                            "video_id": v.pk,
                            "tenant_id": v.tenant_id,
                            "request_id": str(uuid.uuid4()),
                        }
                    ),
                }
                for v in videos[i : i + 10]
            ],
        )


def read_events(path: Path, name: str) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            e = json.loads(line)
            if isinstance(e, dict) and e.get("event") == name:
                out.append(e)
    return out
