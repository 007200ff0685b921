"""Helpers for the AWS-facing tests: fake credentials for moto, and loading the Lambda handler.

`lambda` is a Python keyword, so `lambda/queue_depth_metric/handler.py` cannot be imported
as a package; it is loaded from its file, exactly as the Lambda runtime loads the zip's root.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
HANDLER_PATH = REPO / "lambda" / "queue_depth_metric" / "handler.py"

# Every variable the Lambda reads: cleared so the developer's shell cannot change a result.
LAMBDA_ENV = (
    "VIDEO_SQS_QUEUE_URL",
    "VIDEO_SQS_QUEUE_NAME",
    "VIDEO_DLQ_URL",
    "VIDEO_DLQ_NAME",
    "VIDEO_TARGET_BACKLOG_PER_WORKER",
    "VIDEO_MIN_WORKERS",
    "VIDEO_MAX_WORKERS",
    "VIDEO_FAST_ACK",
    "REDIS_URL",
    "METRIC_NAMESPACE",
    "METRIC_DIMENSIONS",
)


@functools.cache
def load_queue_depth_handler() -> ModuleType:
    """The handler module, loaded once under a name that cannot clash with project modules."""
    name = "queue_depth_metric_handler"
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def moto_bucket(monkeypatch: pytest.MonkeyPatch, bucket: str) -> Iterator[Any]:
    """moto's in-process S3 with fake credentials and one empty bucket; yields its client."""
    import boto3
    from moto import mock_aws

    use_fake_aws(monkeypatch)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        yield client


def use_fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and region for moto; no real endpoint, no developer profile, no Lambda env."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", *LAMBDA_ENV):
        monkeypatch.delenv(name, raising=False)
