"""End-to-end harness: moto's server on loopback, worker processes, their JSON logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
TEST_REDIS_URL = "redis://127.0.0.1:6379/2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


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


class ProcessLog:
    """A child process whose stdout (JSON lines) goes to a file we can read at any time."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.path = log_dir / f"{name}.log"
        self.err_path = log_dir / f"{name}.err"
        self._out = open(self.path, "w")
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._out, stderr=self._err, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.path.read_text().splitlines():
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.lines() if name is None or e.get("event") == name]

    def wait_event(self, name: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        def found():
            for e in self.events(name):
                if all(e.get(k) == v for k, v in match.items()):
                    return e
            if self.proc.poll() is not None and not self.events(name):
                raise AssertionError(f"{self.name} exited before {name}:\n{self.tail()}")
            return None

        return wait_until(found, timeout, what=f"{name} in {self.name}")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._out.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()

    def tail(self, n: int = 30) -> str:
        out = self.path.read_text().splitlines()[-n:]
        err = self.err_path.read_text().splitlines()[-n:]
        return "\n".join([*out, "--- stderr ---", *err])

    def problems(self) -> list[str]:
        """Tracebacks and error-level lines: a healthy run has none."""
        bad = [raw for raw in self.err_path.read_text().splitlines() if "Traceback" in raw]
        for e in self.lines():
            if e.get("exception") or e.get("level") in ("critical",):
                bad.append(json.dumps(e)[:500])
        return bad


def worker_args(fake_seconds: float | None, *extra: str) -> list[str]:
    """A real worker; with `fake_seconds` it runs the FakeTranscoder instead of ffmpeg."""
    if fake_seconds is None:
        return [sys.executable, "-m", "apps.worker.video_worker.sqs_main", *extra]
    return [sys.executable, "-m", "tests.e2e.fake_worker", *extra]


def base_env(db_url: str, sqs: SqsFixture, storage_root: Path, **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_", "AWS_"))}
    env.update(AWS_ENV)
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
    env.update({k: str(v) for k, v in extra.items()})
    return env
