"""The stack's worker scaling and its first deploy, on moto (each test deploys its own)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from tests.aws_helpers import load_queue_depth_handler, use_fake_aws
from tests.integration.moto_stack import IMAGE, STACK, TEMPLATE, container, deploy, load_template


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE)


@pytest.fixture
def aws(monkeypatch):
    use_fake_aws(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws, tmp_path):
    return deploy({"TargetBacklogPerWorker": "1", "MinWorkers": "1", "MaxWorkers": "5"}, tmp_path)


def test_first_deploy_creates_services_with_no_task(aws, tmp_path):
    stack = deploy({"ImageUri": ""}, tmp_path)
    ecs = boto3.client("ecs")
    names = [stack["outputs"][k] for k in stack["outputs"] if k.endswith("ServiceName")]
    services = ecs.describe_services(cluster=stack["outputs"]["ClusterName"], services=names)
    assert len(names) == 5
    assert {s["desiredCount"] for s in services["services"]} == {0}
    _, migrate = container(stack, "MigrateTaskDefinition")
    assert migrate["image"] == IMAGE


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
