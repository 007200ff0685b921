"""infra/cloudformation.yaml: linted (cfn-lint, checkov), deployed to moto, and exercised.

The stack is deployed to moto once for this module's read-only checks (the scaling tests in
test_infra_scaling.py deploy their own); resource types moto cannot create are listed in
tests/integration/moto_stack.py and checked here from the template itself.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.aws_helpers import REPO, use_fake_aws
from tests.integration.moto_stack import (
    IMAGE,
    MOTO_CANNOT_CREATE,
    STACK,
    TEMPLATE,
    container,
    deploy,
    load_template,
    types_moto_cannot_create,
)

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
# checkov pins boto3 and packaging below what the project uses: it lives in its own venv,
# made by `make .venv/checkov/.installed` (see the Makefile).
CHECKOV = REPO / ".venv" / "checkov" / "bin" / "checkov"
APP_SECRETS = {"DJANGO_SECRET_KEY", "API_KEY_PEPPER", "DATABASE_URL", "REDIS_URL"}
ROLES = {  # task definition -> (command, stop timeout)
    "WebTaskDefinition": ("exec uvicorn academy.asgi:application --host=0.0.0.0 --port=8000", 30),
    "WorkerTaskDefinition": ("python -m apps.worker.video_worker.sqs_main", 120),
    "ReconcileTaskDefinition": ("python manage.py reconcile_video_processing --loop 30", 60),
    "DispatcherTaskDefinition": ("python manage.py deliver_webhooks --loop 1", 60),
    "CaptionWorkerTaskDefinition": (
        "python -m apps.worker.video_worker.sqs_main --jobs captions",
        120,
    ),
    "MigrateTaskDefinition": ("python manage.py migrate --noinput", 30),
}


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE)


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


# ------------------------------------------------------------------------------ linters


def test_cfn_lint_accepts_the_template():
    done = run([str(CFN_LINT), str(TEMPLATE)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_would_catch_a_wrong_scaling_property(tmp_path):
    """Guards the test above: the linter really checks properties against the schemas."""
    broken = tmp_path / "broken.yaml"
    text = TEMPLATE.read_text()
    assert "ScaleInCooldown:" in text
    broken.write_text(text.replace("ScaleInCooldown:", "ScaleInCoolDown:"))
    done = run([str(CFN_LINT), str(broken)])
    assert done.returncode != 0
    assert "ScaleInCoolDown" in done.stdout


def checkov(path: Path) -> dict:
    assert CHECKOV.exists(), "checkov is not installed: make .venv/checkov/.installed"
    done = run(
        [
            str(CHECKOV),
            "-f",
            str(path),
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
        ]
    )
    report = json.loads(done.stdout)
    return report["results"]


def test_checkov_finds_nothing_and_every_skip_says_why():
    results = checkov(TEMPLATE)
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == []
    assert len(results["passed_checks"]) > 150
    for skipped in results["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 5, (skipped["check_id"], skipped["resource"], reason)
    # No dead skip: each one in the file silences a finding checkov still makes.
    assert TEMPLATE.read_text().count("checkov:skip=") == len(results["skipped_checks"])


def test_checkov_would_catch_an_unencrypted_queue(tmp_path):
    broken = tmp_path / "broken.yaml"
    text = TEMPLATE.read_text()
    broken.write_text(text.replace("      KmsMasterKeyId: !Ref StackKey\n", "", 1))
    failed = {c["check_id"] for c in checkov(broken)["failed_checks"]}
    assert "CKV_AWS_27" in failed  # SQS encryption


# ------------------------------------------------------------------------------ moto


def test_moto_cannot_create_exactly_the_listed_types(template):
    assert types_moto_cannot_create(template) == set(MOTO_CANNOT_CREATE)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One deployment for the read-only checks below (the scaling tests deploy their own)."""
    with pytest.MonkeyPatch.context() as patch:
        use_fake_aws(patch)
        with mock_aws():
            yield deploy(
                {"TargetBacklogPerWorker": "1", "MinWorkers": "1", "MaxWorkers": "5"},
                tmp_path_factory.mktemp("lambda"),
            )


def test_stack_creates_every_resource_moto_supports(stack, template):
    assert stack["status"] == "CREATE_COMPLETE"
    assert stack["unsupported_warnings"] == []
    expected = {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] not in MOTO_CANNOT_CREATE
    }
    assert set(stack["ids"]) == expected
    assert len(expected) >= 70  # network, ECS, load balancer, database, queues, IAM, Lambda


def test_each_role_runs_its_command_from_the_one_image(stack):
    for logical_id, (command, stop_timeout) in ROLES.items():
        _, definition = container(stack, logical_id)
        assert definition["image"] == IMAGE, logical_id
        assert command in " ".join(definition["command"]), logical_id
        assert definition["stopTimeout"] == stop_timeout, logical_id
        log = definition["logConfiguration"]
        assert log["logDriver"] == "awslogs"
        assert log["options"]["awslogs-group"].startswith(f"/academy/{STACK}/")


def test_secrets_reach_tasks_as_ecs_secrets_never_as_plain_environment(stack):
    for logical_id in ROLES:
        _, definition = container(stack, logical_id)
        environment = {e["name"]: e["value"] for e in definition["environment"]}
        secrets = {s["name"] for s in definition["secrets"]}
        assert not (APP_SECRETS | {"VIDEO_CLOUDFRONT_PRIVATE_KEY"}) & set(environment)
        expected = APP_SECRETS | (
            {"VIDEO_CLOUDFRONT_PRIVATE_KEY"} if logical_id == "WebTaskDefinition" else set()
        )
        assert secrets == expected, logical_id
        assert environment["DJANGO_DEBUG"] == "0"
        assert environment["VIDEO_STORAGE_URL"] == stack["outputs"]["StorageUrl"]
        assert environment["VIDEO_SQS_QUEUE_URL"] == stack["outputs"]["QueueUrl"]
        assert environment["VIDEO_CAPTIONS_QUEUE_URL"] == stack["outputs"]["CaptionsQueueUrl"]
        assert environment["VIDEO_PUBLIC_BASE_URL"] == stack["outputs"]["MediaCdnUrl"]
        assert environment["VIDEO_CLOUDFRONT_KEY_PAIR_ID"] == stack["outputs"]["PlaybackKeyPairId"]
    _, web = container(stack, "WebTaskDefinition")
    key = {s["name"]: s["valueFrom"] for s in web["secrets"]}["VIDEO_CLOUDFRONT_PRIVATE_KEY"]
    assert key == stack["parameters"]["CloudFrontPrivateKeySecretArn"]


def test_environment_names_are_ones_the_project_reads(stack):
    known = (REPO / "academy" / "config.py").read_text()
    sdk = {"AWS_DEFAULT_REGION"}
    interfaces = {  # read by the signed-playback and captions code (fixed interfaces)
        "VIDEO_CLOUDFRONT_KEY_PAIR_ID",
        "VIDEO_CLOUDFRONT_PRIVATE_KEY",
        "VIDEO_CAPTIONS_QUEUE_URL",
    }
    for logical_id in ROLES:
        _, definition = container(stack, logical_id)
        names = {e["name"] for e in definition["environment"]} | {
            s["name"] for s in definition["secrets"]
        }
        unknown = {n for n in names - sdk - interfaces if f'"{n}"' not in known}
        assert not unknown, f"{logical_id}: {unknown} are not read by academy/config.py"


def test_every_task_definition_is_fargate(template):
    """moto keeps neither RequiresCompatibilities nor NetworkMode: read from the template."""
    definitions = {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::ECS::TaskDefinition"
    }
    assert set(definitions) == set(ROLES)
    for properties in definitions.values():
        assert properties["RequiresCompatibilities"] == ["FARGATE"]
        assert properties["NetworkMode"] == "awsvpc"


def test_stop_timeouts_outlast_each_roles_shutdown(template):
    """A busy worker releases its job before ECS could SIGKILL it; a dispatcher ends its send."""
    parameters = template["Parameters"]
    worker_stop = ROLES["WorkerTaskDefinition"][1]
    grace_max = parameters["WorkerShutdownGraceSeconds"]["MaxValue"]
    assert worker_stop >= grace_max + 15  # the release: a fenced UPDATE and a visibility call
    assert ROLES["CaptionWorkerTaskDefinition"][1] >= grace_max + 15
    assert (
        ROLES["DispatcherTaskDefinition"][1] >= parameters["WebhookTimeoutSeconds"]["MaxValue"] + 15
    )
    assert worker_stop <= 120  # Fargate's maximum


def test_services_run_on_fargate_in_private_subnets_with_safe_rollouts(stack, template):
    ecs = boto3.client("ecs")
    cluster = stack["outputs"]["ClusterName"]
    counts = {
        "WebService": 2,
        "WorkerService": 1,
        "ReconcileService": 1,
        "DispatcherService": 1,
        "CaptionWorkerService": 1,
    }
    names = {stack["outputs"][f"{key}Name"]: key for key in counts}
    services = ecs.describe_services(cluster=cluster, services=list(names))["services"]
    assert {names[s["serviceName"]]: s["desiredCount"] for s in services} == counts
    # moto keeps neither the launch type, the network nor the deployment settings.
    for key in counts:
        properties = template["Resources"][key]["Properties"]
        assert properties["LaunchType"] == "FARGATE"
        network = properties["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert network["Subnets"]["Fn::If"][1] == [
            {"Ref": "PrivateSubnetA"},
            {"Ref": "PrivateSubnetB"},
        ]
        rollout = properties["DeploymentConfiguration"]
        assert rollout["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        expected = (0, 100) if key == "ReconcileService" else (100, 200)  # one reconciler
        assert (rollout["MinimumHealthyPercent"], rollout["MaximumPercent"]) == expected, key


def test_load_balancer_keeps_websockets_and_checks_health(stack, template):
    elb = boto3.client("elbv2")
    (balancer,) = elb.describe_load_balancers()["LoadBalancers"]
    (group,) = elb.describe_target_groups()["TargetGroups"]
    assert (group["HealthCheckPath"], group["Port"], group["TargetType"]) == (
        "/api/v1/health",
        8000,
        "ip",
    )
    listeners = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    by_port = {listener["Port"]: listener for listener in listeners}
    assert by_port[443]["Protocol"] == "HTTPS"
    assert by_port[80]["DefaultActions"][0]["Type"] == "redirect"
    rules = elb.describe_rules(ListenerArn=by_port[443]["ListenerArn"])["Rules"]
    hidden = [r for r in rules if r["Actions"][0]["Type"] == "fixed-response"]
    assert hidden[0]["Conditions"][0]["PathPatternConfig"]["Values"][0] == "/metrics"
    # moto does not apply load balancer attributes: read them from the template.
    attributes = {
        a["Key"]: a["Value"]
        for a in template["Resources"]["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]
    }
    assert attributes["idle_timeout.timeout_seconds"] == {"Ref": "AlbIdleTimeoutSeconds"}
    idle = template["Parameters"]["AlbIdleTimeoutSeconds"]
    assert idle["MinValue"] > 60 and idle["Default"] > 60  # WebSockets, SSE
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"


def test_queues_are_encrypted_with_dead_letter_queues(stack):
    sqs = boto3.client("sqs")
    for name in ("academy-video-jobs", "academy-video-jobs-captions"):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["KmsMasterKeyId"] == stack["ids"]["StackKey"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{name}-dlq")
        assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"


def test_media_bucket_is_private_versioned_logged_and_drops_unfinished_uploads(stack, template):
    bucket = stack["outputs"]["MediaBucketName"]
    assert (
        boto3.client("s3").head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    )
    # moto's CloudFormation applies none of these bucket settings: read the template.
    properties = template["Resources"]["MediaBucket"]["Properties"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LogBucket"}
    rules = {r["Id"]: r for r in properties["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": {"Ref": "IncompleteUploadDays"}
    }
    assert "NoncurrentVersionExpiration" in rules["expire-noncurrent-versions"]


def test_database_is_encrypted_private_and_multi_az(stack, template):
    (instance,) = boto3.client("rds").describe_db_instances()["DBInstances"]
    assert instance["StorageEncrypted"] is True
    assert instance["MultiAZ"] is True
    assert instance["PubliclyAccessible"] is False
    assert instance["Engine"] == "postgres"
    assert instance["BackupRetentionPeriod"] == 7
    properties = template["Resources"]["Database"]["Properties"]
    assert properties["MultiAZ"] == {"Ref": "DbMultiAz"}  # the switch
    assert properties["DeletionProtection"] == {"Ref": "DeletionProtection"}
    assert "resolve:secretsmanager" in json.dumps(properties["MasterUserPassword"])


def test_media_cdn_and_redis_as_the_template_defines_them(template):
    """Not creatable in moto: the properties that make them safe, read from the template."""
    resources = template["Resources"]
    redis = resources["Redis"]["Properties"]
    assert redis["TransitEncryptionEnabled"] is True and redis["AtRestEncryptionEnabled"] is True
    assert "resolve:secretsmanager" in json.dumps(redis["AuthToken"])
    config = resources["MediaDistribution"]["Properties"]["DistributionConfig"]
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    for behaviour in behaviours:
        assert behaviour["TrustedKeyGroups"] == [{"Ref": "PlaybackKeyGroup"}]
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert config["CacheBehaviors"][0]["PathPattern"] == {"Ref": "PlaybackPathPattern"}
    origin = config["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["MediaOriginAccessControl", "Id"]}
    statements = resources["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    cdn = next(s for s in statements if s["Sid"] == "CloudFrontReadsPlaybackOnly")
    assert cdn["Action"] == "s3:GetObject"  # sources are never readable through the CDN
    assert cdn["Resource"] == {
        "Fn::Sub": "${MediaBucket.Arn}/${StoragePrefix}/${PlaybackPathPattern}"
    }
    key = resources["PlaybackPublicKey"]["Properties"]["PublicKeyConfig"]
    assert key["EncodedKey"] == {"Ref": "CloudFrontPublicKeyPem"}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            assert resource["Properties"]["KmsKeyId"] == {"Ref": "StackKey"}, name


def test_log_groups_have_retention_and_encryption(stack, template):
    groups = boto3.client("logs").describe_log_groups()["logGroups"]
    assert len(groups) == 8  # six task roles, the Lambda, the VPC flow log
    assert {g["retentionInDays"] for g in groups} == {30}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert resource["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StackKey", "Arn"]}, name


# ------------------------------------------------------------------------------ IAM

_STARTUP = {
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
}
_KMS = {"kms:GenerateDataKey", "kms:Decrypt"}
_CONSUMER = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
}
EXPECTED_ACTIONS = {
    "TaskExecutionRole": _STARTUP,
    "WebExecutionRole": _STARTUP,  # + the playback signing key's secret (and its KMS key)
    "WebTaskRole": {
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:ListBucket",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    | _KMS,
    "WorkerTaskRole": _CONSUMER
    | {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    | _KMS,
    "ReconcileTaskRole": {
        "sqs:SendMessage",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    | _KMS,
    "CaptionWorkerTaskRole": _CONSUMER | {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} | _KMS,
    "QueueDepthRole": {
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:SendMessage",
        "cloudwatch:PutMetricData",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
    | _KMS,
    "VpcFlowLogRole": {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
    "DatabaseMonitoringRole": set(),  # AWS's AmazonRDSEnhancedMonitoringRole only
}
# Actions that have no resource ARN to name: the only ones allowed on "*".
UNSCOPED = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def branches(node):
    """Statements under !If: both branches (the most a role could get), no AWS::NoValue."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        for branch in node["Fn::If"][1:]:
            yield from branches(branch)
    elif node != {"Ref": "AWS::NoValue"}:
        yield node


def role_statements(template: dict, logical_id: str) -> tuple[list[dict], list]:
    """(every statement the role gets from the template, the AWS-managed policies it names)."""
    resources = template["Resources"]
    properties = resources[logical_id]["Properties"]
    documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
    aws_managed = []
    for arn in properties.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            documents.append(resources[arn["Ref"]]["Properties"]["PolicyDocument"])
        else:
            aws_managed.append(arn)
    statements = [s for d in documents for item in d["Statement"] for s in branches(item)]
    return statements, aws_managed


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_each_role_may_do_exactly_the_listed_actions(template):
    roles = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == set(EXPECTED_ACTIONS)
    for logical_id, expected in EXPECTED_ACTIONS.items():
        statements, aws_managed = role_statements(template, logical_id)
        actions = {a for s in statements for a in as_list(s["Action"])}
        assert actions == expected, logical_id
        for statement in statements:
            assert statement["Effect"] == "Allow"
            assert not any("*" in a for a in as_list(statement["Action"])), statement
            if "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= UNSCOPED, (logical_id, statement)
        expected_managed = (
            [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                    "AmazonRDSEnhancedMonitoringRole"
                }
            ]
            if logical_id == "DatabaseMonitoringRole"
            else []
        )
        assert aws_managed == expected_managed, logical_id


def test_deployed_roles_hold_the_templates_inline_policies(stack, template):
    """moto creates the roles with their inline policies (it does not attach managed ones)."""
    iam = boto3.client("iam")
    for logical_id in ("WebTaskRole", "WorkerTaskRole", "ReconcileTaskRole", "QueueDepthRole"):
        role = stack["ids"][logical_id]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):  # moto's CloudFormation stores the dict's repr
            document = ast.literal_eval(document)
        actions = {a for s in document["Statement"] for a in as_list(s["Action"])}
        assert actions == EXPECTED_ACTIONS[logical_id], logical_id
        resources = {r for s in document["Statement"] for r in as_list(s["Resource"])}
        if logical_id != "QueueDepthRole":
            assert "*" not in resources, logical_id


def test_dispatcher_and_migrations_get_no_task_role(template):
    resources = template["Resources"]
    for logical_id in ("DispatcherTaskDefinition", "MigrateTaskDefinition"):
        assert "TaskRoleArn" not in resources[logical_id]["Properties"], logical_id
    for logical_id in ROLES:
        expected = "WebExecutionRole" if logical_id == "WebTaskDefinition" else "TaskExecutionRole"
        role = resources[logical_id]["Properties"]["ExecutionRoleArn"]
        assert role == {"Fn::GetAtt": [expected, "Arn"]}, logical_id


def test_web_task_answers_the_load_balancers_health_check(template, settings, client):
    """ALB health checks send the target's IP as Host: the web command allows it at start."""
    (web,) = template["Resources"]["WebTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert web["EntryPoint"] == ["sh", "-c"]
    (line,) = web["Command"]
    assert "exec uvicorn academy.asgi:application" in line
    shown = subprocess.run(
        ["sh", "-c", line.split("exec uvicorn")[0] + "exec env"],  # what uvicorn would get
        env={
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "DJANGO_ALLOWED_HOSTS": "api.academy.test",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (hosts,) = [
        v.split("=", 1)[1] for v in shown.splitlines() if v.startswith("DJANGO_ALLOWED_HOSTS=")
    ]
    domain, address = hosts.split(",")
    assert domain == "api.academy.test"

    settings.ALLOWED_HOSTS = [domain]
    refused = client.get("/api/v1/health", HTTP_HOST=f"{address}:8000")
    assert refused.status_code == 400  # what the load balancer would get without it
    settings.ALLOWED_HOSTS = [domain, address]
    response = client.get("/api/v1/health", HTTP_HOST=f"{address}:8000")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
