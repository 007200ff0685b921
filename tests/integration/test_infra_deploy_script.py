"""infra/deploy.sh against stand-in `aws` and `docker` commands that record every call.

No AWS account here: the stand-ins answer as the AWS CLI would for a stack that does not
exist yet, then for the one the first `cloudformation deploy` made, and the test checks the
order the script promises: Lambda zip, image push, stack with the new image for the
migration task only, migrations, then the services.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.aws_helpers import REPO

DEPLOY = REPO / "infra" / "deploy.sh"
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/academy-video:feedc0ffee12"

FAKE_AWS = r'''#!PYTHON
"""Stand-in for the AWS CLI: logs its arguments, answers from a small state file."""
import json, os, re, sys

args = sys.argv[1:]
state_path = os.environ["FAKE_AWS_STATE"]
state = json.load(open(state_path)) if os.path.exists(state_path) else {}
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write(json.dumps(["aws", *args]) + "\n")
command = " ".join(args[:2])

def save():
    json.dump(state, open(state_path, "w"))

if command == "cloudformation describe-stacks":
    if "stack" not in state:
        sys.exit(255)
    query = args[args.index("--query") + 1]
    match = re.search(r"OutputKey=='(\w+)'", query)
    outputs = {
        "ClusterName": "academy",
        "TaskSubnetIds": "subnet-a,subnet-b",
        "TaskSecurityGroupId": "sg-1",
        "MigrateTaskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/academy-migrate:3",
        "WebServiceName": "web", "WorkerServiceName": "worker",
        "ReconcileServiceName": "reconcile", "DispatcherServiceName": "webhooks",
        "CaptionWorkerServiceName": "captions",
        "ServiceImageUri": state["stack"].get("ImageUri") or "None",
    }
    print(outputs[match.group(1)] if match else "[]")
elif command == "cloudformation deploy":
    overrides = args[args.index("--parameter-overrides") + 1:]
    state["stack"] = dict(item.split("=", 1) for item in overrides)
    save()
elif command == "sts get-caller-identity":
    print("ACCOUNT")
elif command in ("ecr describe-repositories", "ecr describe-images",
                 "secretsmanager describe-secret"):
    sys.exit(254)
elif command == "secretsmanager create-secret":
    print("arn:aws:secretsmanager:eu-west-1:1:secret:academy/cloudfront-private-key-AbC")
elif command == "ecr get-login-password":
    print("password")
elif command == "ecs run-task":
    print("arn:aws:ecs:eu-west-1:1:task/academy/migrate1")
elif command == "ecs describe-tasks":
    print(os.environ.get("FAKE_MIGRATION_EXIT", "0"))
'''.replace("PYTHON", sys.executable).replace("ACCOUNT", ACCOUNT)

FAKE_DOCKER = """#!/bin/sh
printf '["docker"%s]\\n' "$(for a in "$@"; do printf ', "%s"' "$a"; done)" >> "$FAKE_CALLS"
cat >/dev/null 2>&1 || true
"""


@pytest.fixture
def fake_cli(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    key = tmp_path / "playback.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-out", str(key)], check=True, timeout=60
    )
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_REGION": "eu-west-1",
        "IMAGE_TAG": "feedc0ffee12",
        "PLAYBACK_KEY_FILE": str(key),
        "FAKE_CALLS": str(tmp_path / "calls.jsonl"),
        "FAKE_AWS_STATE": str(tmp_path / "state.json"),
    }

    def deploy(**extra: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        done = subprocess.run(
            [str(DEPLOY), "academy", "artifacts", "DomainName=api.academy.test"],
            env=env | extra,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        calls = [json.loads(line) for line in Path(env["FAKE_CALLS"]).read_text().splitlines()]
        return done, calls

    return deploy


def position(calls: list[list[str]], *prefix: str, after: int = -1) -> int:
    for index, call in enumerate(calls):
        if index > after and call[: len(prefix)] == list(prefix):
            return index
    raise AssertionError(f"no call {prefix} after #{after}: {calls}")


def parameters(call: list[str]) -> dict[str, str]:
    overrides = call[call.index("--parameter-overrides") + 1 :]
    return dict(item.split("=", 1) for item in overrides)


def test_first_deploy_pushes_the_image_migrates_then_rolls_the_services(fake_cli):
    done, calls = fake_cli()
    assert done.returncode == 0, done.stderr

    upload = position(calls, "aws", "s3", "cp")
    assert calls[upload][4].startswith("s3://artifacts/lambda/queue_depth_metric-")
    created = position(calls, "aws", "ecr", "create-repository")
    assert "IMMUTABLE" in calls[created]
    build = position(calls, "docker", "build")
    assert calls[build][-3:] == ["-t", IMAGE, str(REPO)]
    push = position(calls, "docker", "push", after=build)
    assert calls[push][2] == IMAGE

    first = position(calls, "aws", "cloudformation", "deploy", after=push)
    stack = parameters(calls[first])
    assert (stack["MigrationImageUri"], stack["ImageUri"]) == (IMAGE, "")  # no service task yet
    assert stack["CloudFrontPublicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert stack["CloudFrontPrivateKeySecretArn"].startswith("arn:aws:secretsmanager:")
    assert "PRIVATE KEY" not in json.dumps(calls)  # the key goes by file, never as an argument
    assert "--s3-bucket" in calls[first]  # the template is above the 51 200-byte inline limit

    migrate = position(calls, "aws", "ecs", "run-task", after=first)
    assert "arn:aws:ecs:eu-west-1:1:task-definition/academy-migrate:3" in calls[migrate]
    network = calls[migrate][calls[migrate].index("--network-configuration") + 1]
    assert "subnets=[subnet-a,subnet-b]" in network and "assignPublicIp=DISABLED" in network
    waited = position(calls, "aws", "ecs", "wait", "tasks-stopped", after=migrate)
    checked = position(calls, "aws", "ecs", "describe-tasks", after=waited)

    second = position(calls, "aws", "cloudformation", "deploy", after=checked)
    assert parameters(calls[second])["ImageUri"] == IMAGE
    stable = position(calls, "aws", "ecs", "wait", "services-stable", after=second)
    assert calls[stable][-5:] == ["web", "worker", "reconcile", "webhooks", "captions"]


def test_failed_migrations_leave_the_services_on_their_image(fake_cli):
    fake_cli()  # a first deploy: the services run IMAGE
    done, calls = fake_cli(IMAGE_TAG="badbadbadbad", FAKE_MIGRATION_EXIT="1")
    assert done.returncode == 1
    assert "migrations failed (exit code 1)" in done.stderr
    assert f"the services still run {IMAGE}" in done.stderr
    deploys = [c for c in calls if c[:3] == ["aws", "cloudformation", "deploy"]]
    last = parameters(deploys[-1])
    assert last["ImageUri"] == IMAGE  # never the image whose migrations failed
    assert last["MigrationImageUri"].endswith(":badbadbadbad")


def test_usage_without_arguments():
    done = subprocess.run(
        [str(DEPLOY)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 2
    assert "usage:" in done.stderr
