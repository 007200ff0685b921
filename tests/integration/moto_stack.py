"""Deploy infra/cloudformation.yaml to moto's CloudFormation, as far as moto can create it.

moto implements CloudFormation for some resource types only. A resource it cannot create is
taken out of the template, and every Ref, GetAtt and ${…} to it becomes a placeholder string
naming it, so that everything else is created for real (queues, bucket, roles, task
definitions, services, load balancer, database, Lambda...). `MOTO_CANNOT_CREATE` is the list
of types taken out; the tests assert it is exactly what moto lacks and check those resources
another way (cfn-lint, checkov, and the template's own properties).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import warnings
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import cfn_yaml

from tests.aws_helpers import REPO

TEMPLATE = REPO / "infra" / "cloudformation.yaml"
PACKAGE_LAMBDA = REPO / "infra" / "package_lambda.py"
STACK = "academy-test"
CODE_BUCKET = "academy-artifacts"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/academy-video:0123abcd"

MOTO_CANNOT_CREATE = frozenset(
    {
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::KeyGroup",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::PublicKey",
        "AWS::CloudWatch::Alarm",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::ElastiCache::SubnetGroup",
        "AWS::S3::BucketPolicy",
        "AWS::SecretsManager::Secret",
    }
)
_MOTO_SERVICES = (
    "applicationautoscaling awslambda cloudfront cloudwatch ec2 ecs elasticache elbv2 events "
    "iam kms logs rds s3 secretsmanager sqs"
).split()


def load_template(path: Path) -> dict[str, Any]:
    return cfn_yaml.load(str(path))


def types_moto_cannot_create(template: dict[str, Any]) -> set[str]:
    """The template's resource types with no CloudFormation model in the installed moto."""
    for service in _MOTO_SERVICES:
        importlib.import_module(f"moto.{service}.models")
    from moto.cloudformation import parsing

    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    known = parsing.get_model_map()
    return {r["Type"] for r in template["Resources"].values() if r["Type"] not in known}


def placeholder(name: str, attribute: str | None = None) -> str:
    """ARN-shaped (IAM policies name these resources), and naming what it stands for."""
    return f"arn:aws:not-in-moto:us-east-1:123456789012:{name}" + (
        f"/{attribute}" if attribute else ""
    )


def _stub(node: Any, removed: set[str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in removed:
            return placeholder(node["Ref"])
        if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in removed:
            return placeholder(*node["Fn::GetAtt"])
        if set(node) == {"Fn::Sub"}:
            body = node["Fn::Sub"]
            text, names = (body, None) if isinstance(body, str) else body

            def replace(match: re.Match[str]) -> str:
                name, _, attribute = match.group(1).partition(".")
                return placeholder(name, attribute or None) if name in removed else match.group(0)

            text = re.sub(r"\$\{([A-Za-z0-9:.]+)\}", replace, text)
            return {"Fn::Sub": text if names is None else [text, _stub(names, removed)]}
        return {key: _stub(value, removed) for key, value in node.items()}
    if isinstance(node, list):
        return [_stub(item, removed) for item in node]
    return node


def moto_template(template: dict[str, Any]) -> tuple[str, set[str]]:
    """(template body moto can deploy, the logical ids taken out)."""
    removed = {name for name, r in template["Resources"].items() if r["Type"] in MOTO_CANNOT_CREATE}
    body = json.loads(json.dumps(template, default=str))
    body.pop("Rules", None)  # moto does not evaluate Rules
    body["Resources"] = {
        name: resource for name, resource in body["Resources"].items() if name not in removed
    }
    for resource in body["Resources"].values():
        depends = resource.get("DependsOn")
        if isinstance(depends, str) and depends in removed:
            del resource["DependsOn"]
        elif isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in removed]
    return json.dumps(_stub(body, removed)), removed


def deploy(parameters: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """Create the stack in moto (inside an active mock); returns outputs and resource ids."""
    spec = importlib.util.spec_from_file_location("infra_package_lambda", PACKAGE_LAMBDA)
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    zip_path = package.build_zip(tmp_path)
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


def container(stack: dict, logical_id: str) -> tuple[dict, dict]:
    """(the deployed task definition, its one container)."""
    ecs = boto3.client("ecs")
    task = ecs.describe_task_definition(taskDefinition=stack["ids"][logical_id])["taskDefinition"]
    (definition,) = task["containerDefinitions"]
    return task, definition
