"""infra/: the CloudFormation template (cfn-lint, then deployed to moto), compose file, scripts."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import subprocess
import sys
import tomllib
import warnings
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from cfnlint.decode import cfn_yaml
from moto import mock_aws

from tests.aws_helpers import REPO, load_queue_depth_handler, use_fake_aws

INFRA = REPO / "infra"
TEMPLATE = INFRA / "cloudformation.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
STACK = "academy-video-test"
CODE_BUCKET = "academy-artifacts"
# Resource types moto's CloudFormation cannot create; it skips them with a warning.
MOTO_UNSUPPORTED = {"AWS::CloudWatch::Alarm"}


def load_infra_module(name: str):
    spec = importlib.util.spec_from_file_location(f"infra_{name}", INFRA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cfn_lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CFN_LINT), str(path)], capture_output=True, text=True, timeout=120, check=False
    )


def test_cfn_lint_accepts_the_full_template():
    done = cfn_lint(TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_would_catch_a_wrong_scaling_property(tmp_path):
    """Guards the test above: the linter really checks properties against the schemas."""
    broken = tmp_path / "broken.yaml"
    text = TEMPLATE.read_text()
    assert "ScaleInCooldown:" in text
    broken.write_text(text.replace("ScaleInCooldown:", "ScaleInCoolDown:"))
    done = cfn_lint(broken)
    assert done.returncode != 0
    assert "ScaleInCoolDown" in done.stdout


def resolve(node, parameters):
    """Substitute {"Ref": parameter} with the parameter's value (enough for metric specs)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in parameters:
            return parameters[node["Ref"]]
        return {key: resolve(value, parameters) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, parameters) for item in node]
    return node


@pytest.fixture(scope="module")
def template():
    return cfn_yaml.load(str(TEMPLATE))


@pytest.fixture
def stack(monkeypatch, tmp_path):
    """The template deployed to moto without the ECS-scaling resources, code from the real zip."""
    use_fake_aws(monkeypatch)
    package = load_infra_module("package_lambda")
    with mock_aws():
        zip_path = package.build_zip(tmp_path)
        key = f"lambda/{zip_path.name}"
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        s3.upload_file(str(zip_path), CODE_BUCKET, key)
        cloudformation = boto3.client("cloudformation")
        parameters = {
            "LambdaCodeS3Bucket": CODE_BUCKET,
            "LambdaCodeS3Key": key,
            "EnableServiceScaling": "false",
            "MaxReceiveCount": "4",
            "VisibilityTimeoutSeconds": "600",
            "TargetBacklogPerWorker": "2",
            "MaxWorkers": "8",
            "EnvironmentName": "staging",
            "ApiCorsOrigins": "https://editor.academy.test,https://app.academy.test",
        }
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=TEMPLATE.read_text(),
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                Capabilities=["CAPABILITY_IAM"],
            )
        skipped = {
            word
            for w in caught
            if "not supported by moto" in str(w.message)
            for word in str(w.message).split()
            if word.startswith("AWS::")
        }
        description = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}
        yield {
            "status": description["StackStatus"],
            "outputs": outputs,
            "parameters": parameters,
            "skipped": skipped,
            "zip": zip_path,
        }


def test_stack_creates_the_media_bucket(stack):
    bucket = stack["outputs"]["MediaBucketName"]
    assert (
        boto3.client("s3").head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    )


def test_media_bucket_cors_lets_browsers_upload_and_read_etags(template, monkeypatch):
    """moto's CloudFormation does not apply CorsConfiguration: check the rules themselves, and
    that S3's own API accepts them as CloudFormation passes them on."""
    origins = ["https://editor.academy.test", "https://app.academy.test"]
    bucket = resolve(template["Resources"]["MediaBucket"], {"ApiCorsOrigins": origins})
    rules = {r["Id"]: r for r in bucket["Properties"]["CorsConfiguration"]["CorsRules"]}
    upload = rules["direct-uploads"]
    assert (upload["AllowedMethods"], upload["AllowedOrigins"]) == (["PUT"], origins)
    assert upload["ExposedHeaders"] == ["ETag"]  # the client sends each part's ETag back
    assert rules["playback"]["AllowedMethods"] == ["GET", "HEAD"]
    assert "Range" in rules["playback"]["AllowedHeaders"]
    lifecycle = bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == {
        "Ref": "IncompleteUploadDays"
    }
    use_fake_aws(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="media")
        s3.put_bucket_cors(
            Bucket="media",
            CORSConfiguration={
                "CORSRules": [
                    {
                        "ID": r["Id"],
                        "AllowedMethods": r["AllowedMethods"],
                        "AllowedOrigins": r["AllowedOrigins"],
                        "AllowedHeaders": r["AllowedHeaders"],
                        "ExposeHeaders": r["ExposedHeaders"],
                        "MaxAgeSeconds": r["MaxAge"],
                    }
                    for r in rules.values()
                ]
            },
        )
        stored = {r["ID"]: r for r in s3.get_bucket_cors(Bucket="media")["CORSRules"]}
        assert stored["direct-uploads"]["ExposeHeaders"] == ["ETag"]


def test_stack_creates_queues_with_redrive_policy(stack):
    assert stack["status"] == "CREATE_COMPLETE"
    # Only the alarms are beyond moto; the ECS scaling resources are off by the condition.
    assert stack["skipped"] == MOTO_UNSUPPORTED
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="academy-video-jobs")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="academy-video-jobs-dlq")["QueueUrl"]
    assert (stack["outputs"]["QueueUrl"], stack["outputs"]["DeadLetterQueueUrl"]) == (
        queue_url,
        dlq_url,
    )
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn["Attributes"]["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 4
    assert attrs["VisibilityTimeout"] == "600"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20"


def test_stack_creates_the_lambda_from_the_packaged_zip_on_a_schedule(stack):
    function_name = stack["outputs"]["QueueDepthFunctionName"]
    config = boto3.client("lambda").get_function(FunctionName=function_name)["Configuration"]
    assert config["Handler"] == "handler.lambda_handler"
    assert config["Runtime"].startswith("python3")
    expected_sha = base64.b64encode(hashlib.sha256(stack["zip"].read_bytes()).digest()).decode()
    assert config["CodeSha256"] == expected_sha
    env = config["Environment"]["Variables"]
    assert env["VIDEO_SQS_QUEUE_URL"] == stack["outputs"]["QueueUrl"]
    assert env["METRIC_DIMENSIONS"] == "Service=video-worker,Env=staging"

    events = boto3.client("events")
    rules = [r for r in events.list_rules()["Rules"] if r["Name"].startswith(STACK)]
    assert [(r["ScheduleExpression"], r["State"]) for r in rules] == [("rate(1 minute)", "ENABLED")]
    targets = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"]
    assert [t["Arn"] for t in targets] == [config["FunctionArn"]]
    policy = json.loads(boto3.client("lambda").get_policy(FunctionName=function_name)["Policy"])
    statement = policy["Statement"][0]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rules[0]["Arn"]


def test_deployed_lambda_publishes_what_the_scaling_policy_and_alarm_watch(
    stack, template, monkeypatch, capsys
):
    """Run the handler with the deployed function's environment against the deployed queue."""
    function_name = stack["outputs"]["QueueDepthFunctionName"]
    config = boto3.client("lambda").get_function(FunctionName=function_name)["Configuration"]
    for name, value in config["Environment"]["Variables"].items():
        monkeypatch.setenv(name, str(value))
    sqs = boto3.client("sqs")
    for video_id in range(5):
        sqs.send_message(
            QueueUrl=stack["outputs"]["QueueUrl"],
            MessageBody=json.dumps({"video_id": video_id, "tenant_id": 7, "request_id": "r"}),
        )

    result = load_queue_depth_handler().lambda_handler({}, None)

    assert result["ok"] is True, result
    assert (result["video_visible"], result["video_desired"]) == (5, 3)  # ceil(5 / 2)

    parameters = {
        name: spec.get("Default") for name, spec in template["Parameters"].items()
    } | stack["parameters"]
    resources = resolve(template["Resources"], parameters)
    tracking = resources["WorkerScalingPolicy"]["Properties"][
        "TargetTrackingScalingPolicyConfiguration"
    ]
    watched = [
        q["MetricStat"]["Metric"]
        for q in tracking["CustomizedMetricSpecification"]["Metrics"]
        if q["Id"] == "desired"
    ]
    missing_alarm = resources["ScalingMetricMissingAlarm"]["Properties"]
    watched.append({k: missing_alarm[k] for k in ("Namespace", "MetricName", "Dimensions")})
    cloudwatch = boto3.client("cloudwatch")
    now = datetime.now(UTC)
    for metric in watched:
        points = cloudwatch.get_metric_statistics(
            **metric,
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["Average"],
        )["Datapoints"]
        assert [p["Average"] for p in points] == [3.0], metric


def test_scaling_resources_exist_only_with_the_condition(template):
    for name in ("WorkerScalableTarget", "WorkerScalingPolicy"):
        assert template["Resources"][name]["Condition"] == "ScaleService"
    assert template["Conditions"]["ScaleService"] == {
        "Fn::Equals": [{"Ref": "EnableServiceScaling"}, "true"]
    }
    assert template["Parameters"]["EnableServiceScaling"]["Default"] == "true"


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
    # The captions extra: faster-whisper and its model are in the image (nothing downloaded
    # while a job runs).
    assert "RUN pip install '.[captions]'" in text
    # Every package setuptools installs must be in the image before `pip install .` runs.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} ./{package}" in text
    assert text.index(f"COPY {package} ") < text.index("RUN pip install '.[captions]'")
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
