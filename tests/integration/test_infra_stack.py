"""infra/cloudformation.yaml: linted (cfn-lint, checkov), deployed to moto, and exercised.

The stack is deployed once per test that needs it (moto is in-process and fast); resource
types moto cannot create are listed in tests/integration/moto_stack.py and checked here from
the template itself.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.aws_helpers import REPO, load_queue_depth_handler, use_fake_aws
from tests.integration.moto_stack import (
    MOTO_CANNOT_CREATE,
    load_template,
    moto_template,
    types_moto_cannot_create,
)

INFRA = REPO / "infra"
TEMPLATE = INFRA / "cloudformation.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
# checkov pins boto3 and packaging below what the project uses: it lives in its own venv,
# made by `make .venv/checkov/.installed` (see the Makefile).
CHECKOV = REPO / ".venv" / "checkov" / "bin" / "checkov"
STACK = "academy-test"
CODE_BUCKET = "academy-artifacts"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/academy-video:0123abcd"
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


def deploy(parameters: dict[str, str], tmp_path: Path) -> dict:
    """Create the stack in moto (inside an active mock); returns outputs and resource ids."""
    from tests.integration.test_infra_cloudformation import load_infra_module

    zip_path = load_infra_module("package_lambda").build_zip(tmp_path)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.upload_file(str(zip_path), CODE_BUCKET, f"lambda/{zip_path.name}")
    certificate = boto3.client("acm").request_certificate(DomainName="api.academy.test")
    private_key = boto3.client("secretsmanager").create_secret(Name="pk", SecretString="pem")
    values = {
        "MigrationImageUri": IMAGE,
        "ImageUri": IMAGE,
        "LambdaCodeS3Bucket": CODE_BUCKET,
        "LambdaCodeS3Key": f"lambda/{zip_path.name}",
        "DomainName": "api.academy.test",
        "CertificateArn": certificate["CertificateArn"],
        "CloudFrontPublicKeyPem": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        "CloudFrontPrivateKeySecretArn": private_key["ARN"],
        "ApiCorsOrigins": "https://app.academy.test",
    } | parameters
    body, removed = moto_template(load_template(TEMPLATE))
    cloudformation = boto3.client("cloudformation")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    unsupported = [str(w.message) for w in caught if "not supported by moto" in str(w.message)]
    description = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {
        "status": description["StackStatus"],
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]},
        "ids": {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries},
        "removed": removed,
        "unsupported_warnings": unsupported,
        "parameters": values,
        "zip": zip_path,
    }


@pytest.fixture
def aws(monkeypatch):
    use_fake_aws(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws, tmp_path):
    return deploy({"TargetBacklogPerWorker": "1", "MinWorkers": "1", "MaxWorkers": "5"}, tmp_path)


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


def container(stack, logical_id: str) -> tuple[dict, dict]:
    ecs = boto3.client("ecs")
    task = ecs.describe_task_definition(taskDefinition=stack["ids"][logical_id])["taskDefinition"]
    (definition,) = task["containerDefinitions"]
    return task, definition


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


def test_first_deploy_creates_services_with_no_task(aws, tmp_path):
    stack = deploy({"ImageUri": ""}, tmp_path)
    ecs = boto3.client("ecs")
    names = [stack["outputs"][k] for k in stack["outputs"] if k.endswith("ServiceName")]
    services = ecs.describe_services(cluster=stack["outputs"]["ClusterName"], services=names)
    assert len(names) == 5
    assert {s["desiredCount"] for s in services["services"]} == {0}
    _, migrate = container(stack, "MigrateTaskDefinition")
    assert migrate["image"] == IMAGE


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


def resolve(node, values: dict):
    """Substitute {"Ref": name} (and !If on ServicesOn/CreateCluster) with concrete values."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        if set(node) == {"Fn::GetAtt"} and ".".join(node["Fn::GetAtt"]) in values:
            return values[".".join(node["Fn::GetAtt"])]
        if set(node) == {"Fn::If"} and node["Fn::If"][0] == "CreateCluster":
            return resolve(node["Fn::If"][1], values)
        return {key: resolve(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, values) for item in node]
    return node


def run_queue_depth_lambda(stack, monkeypatch) -> dict:
    """The handler with the deployed function's environment, as the schedule runs it."""
    function = boto3.client("lambda").get_function(
        FunctionName=stack["outputs"]["QueueDepthFunctionName"]
    )["Configuration"]
    for name, value in function["Environment"]["Variables"].items():
        monkeypatch.setenv(name, str(value))
    result = load_queue_depth_handler().lambda_handler({}, None)
    assert result["ok"] is True, result
    return result


def apply_target_tracking(stack, template, now: datetime) -> int:
    """What Application Auto Scaling does with the policy: read the metric math, set the count.

    moto stores scalable targets and policies but does not evaluate them; this evaluates the
    registered policy's metric math (desired / running) against CloudWatch as AWS would
    (capacity = ceil(running * metric / target), clamped to the target's bounds) and sets
    the service's desired count through ECS.
    """
    autoscaling = boto3.client("application-autoscaling")
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    (policy,) = autoscaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    queries = {q["Id"]: q for q in tracking["CustomizedMetricSpecification"]["Metrics"]}
    cluster, service = target["ResourceId"].split("/")[1:]
    ecs = boto3.client("ecs")
    running = ecs.describe_services(cluster=cluster, services=[service])["services"][0][
        "desiredCount"
    ]
    stat = queries["desired"]["MetricStat"]["Metric"]
    points = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=stat["Namespace"],
        MetricName=stat["MetricName"],
        Dimensions=stat["Dimensions"],
        StartTime=now - timedelta(minutes=1),
        EndTime=now + timedelta(minutes=1),
        Period=120,
        Statistics=["Maximum"],
    )["Datapoints"]
    desired = points[0]["Maximum"]
    assert queries["desired_per_task"]["Expression"] == "desired / running"
    metric = desired / running
    capacity = math.ceil(running * metric / tracking["TargetValue"])
    capacity = max(target["MinCapacity"], min(target["MaxCapacity"], capacity))
    ecs.update_service(cluster=cluster, service=service, desiredCount=capacity)
    return ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]


def register_scaling(stack, template) -> None:
    """moto's CloudFormation cannot create the two scaling resources: register them through
    the Application Auto Scaling API with the template's own properties."""
    values = {name: spec.get("Default") for name, spec in template["Parameters"].items()} | stack[
        "parameters"
    ]
    values |= {
        "Cluster": stack["outputs"]["ClusterName"],
        "WorkerService.Name": stack["outputs"]["WorkerServiceName"],
        "AWS::StackName": STACK,
    }
    resources = resolve(template["Resources"], values)
    target = resources["WorkerScalableTarget"]["Properties"]
    resource_id = target["ResourceId"]["Fn::Sub"]
    resource_id = f"service/{resource_id[1]['ClusterName']}/{resource_id[1]['ServiceName']}"
    autoscaling = boto3.client("application-autoscaling")
    autoscaling.register_scalable_target(
        ServiceNamespace=target["ServiceNamespace"],
        ResourceId=resource_id,
        ScalableDimension=target["ScalableDimension"],
        MinCapacity=int(target["MinCapacity"]),
        MaxCapacity=int(target["MaxCapacity"]),
    )
    policy = resources["WorkerScalingPolicy"]["Properties"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    autoscaling.put_scaling_policy(
        PolicyName="video-desired",
        ServiceNamespace="ecs",
        ResourceId=resource_id,
        ScalableDimension="ecs:service:DesiredCount",
        PolicyType=policy["PolicyType"],
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(tracking["TargetValue"]),
            "ScaleInCooldown": int(tracking["ScaleInCooldown"]),
            "ScaleOutCooldown": int(tracking["ScaleOutCooldown"]),
            "CustomizedMetricSpecification": tracking["CustomizedMetricSpecification"],
        },
    )


def test_scale_out_on_a_burst_and_scale_in_never_below_the_busy_workers(
    stack, template, monkeypatch, capsys
):
    register_scaling(stack, template)
    sqs = boto3.client("sqs")
    url = stack["outputs"]["QueueUrl"]
    for video_id in range(7):
        body = {"video_id": video_id, "tenant_id": 7, "request_id": f"r{video_id}"}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    assert run_queue_depth_lambda(stack, monkeypatch)["video_desired"] == 5  # 7, MaxWorkers 5
    assert apply_target_tracking(stack, template, datetime.now(UTC)) == 5

    # Five workers take a job each; four finish, one is still transcoding, two wait.
    taken = []
    while len(taken) < 5:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5 - len(taken))
        taken += got.get("Messages", [])
    for message in taken[:4]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # Three minutes on (the Lambda's next runs): the policy reads the newest datapoint.
    later = datetime.now(UTC) + timedelta(minutes=3)
    monkeypatch.setattr(load_queue_depth_handler(), "datetime", clock_at(later))
    result = run_queue_depth_lambda(stack, monkeypatch)
    assert (result["video_visible"], result["video_inflight"]) == (2, 1)
    assert result["video_desired"] == 3
    assert apply_target_tracking(stack, template, later) == 3  # scale in, to 1 busy + 2 waiting

    # The two waiting jobs are taken: nothing waits, three workers are busy. A fleet sized on
    # the waiting messages alone would drop to MinWorkers (1) and stop two transcodes.
    while len(taken) < 7:
        taken += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2).get("Messages", [])
    later += timedelta(minutes=3)
    monkeypatch.setattr(load_queue_depth_handler(), "datetime", clock_at(later))
    result = run_queue_depth_lambda(stack, monkeypatch)
    assert (result["video_visible"], result["video_inflight"]) == (0, 3)
    assert apply_target_tracking(stack, template, later) == 3


def clock_at(moment: datetime) -> type[datetime]:
    """A datetime class whose now() is `moment`: the Lambda's later runs, without waiting."""

    class Shifted(datetime):
        @classmethod
        def now(cls, tz=None):
            return moment if tz is not None else moment.replace(tzinfo=None)

    return Shifted


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
