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


COMPOSE_APP_SERVICES = {"setup", "web", "worker-1", "worker-2", "reconcile"}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def test_compose_has_the_local_stack(compose):
    services = compose["services"]
    assert {"postgres", "redis", "sqs"} | COMPOSE_APP_SERVICES <= set(services)
    assert services["sqs"]["image"].startswith("motoserver/moto:")
    commands = {name: " ".join(services[name]["command"]) for name in COMPOSE_APP_SERVICES}
    assert (
        commands["worker-1"]
        == commands["worker-2"]
        == ("python -m apps.worker.video_worker.sqs_main")
    )
    assert "reconcile_video_processing --loop" in commands["reconcile"]
    assert commands["web"].startswith("uvicorn academy.asgi:application --host=0.0.0.0 --port=8000")
    assert "migrate" in commands["setup"] and "create_local_queues.py" in commands["setup"]
    worker_ids = {services[name]["environment"]["WORKER_ID"] for name in ("worker-1", "worker-2")}
    assert len(worker_ids) == 2
    for name in COMPOSE_APP_SERVICES - {"setup"}:
        assert services[name]["depends_on"]["setup"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_uses_only_variables_the_project_reads(compose):
    known = (REPO / "academy" / "config.py").read_text()
    aws_sdk = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for name in COMPOSE_APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["AWS_ENDPOINT_URL"] == "http://sqs:5000"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
        unknown = {var for var in env if var not in aws_sdk and f'"{var}"' not in known}
        assert not unknown, f"{name}: {unknown} are not read by academy/config.py"


def test_dockerfile_installs_the_project_with_ffmpeg():
    text = (INFRA / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "apt-get install -y --no-install-recommends ffmpeg" in text
    assert "RUN pip install ." in text
    # Every package setuptools installs must be in the image before `pip install .` runs.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in text
    assert text.index(f"COPY {package} ") < text.index("RUN pip install .")
    for copied in ("manage.py", "infra/create_local_queues.py"):
        assert (REPO / copied).is_file() and f"COPY {copied} " in text
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
