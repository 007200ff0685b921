"""Create the video and caption queues and their dead-letter queues on a local SQS endpoint.

Mirrors infra/cloudformation.yaml (same names, redrive policy, visibility timeout) so local
runs see production's queue behaviour. Idempotent; waits for the endpoint to come up.

    python infra/create_local_queues.py [--max-receive-count 5] [--wait-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

# Matches the CloudFormation MaxReceiveCount default.
DEFAULT_MAX_RECEIVE_COUNT = 5
# The SQS default; workers extend visibility while they transcode.
DEFAULT_VISIBILITY_TIMEOUT = 300


def create_queues(
    sqs, name: str, max_receive_count: int, visibility_timeout: int
) -> tuple[str, str]:
    """(queue url, dead-letter queue url); re-running only re-applies the attributes."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "RedrivePolicy": json.dumps(policy),
            "VisibilityTimeout": str(visibility_timeout),
            "ReceiveMessageWaitTimeSeconds": "20",
        },
    )
    return url, dlq_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-receive-count", type=int, default=DEFAULT_MAX_RECEIVE_COUNT)
    parser.add_argument("--wait-seconds", type=float, default=60)
    args = parser.parse_args(argv)
    name = os.environ.get("VIDEO_SQS_QUEUE_NAME", "").strip() or "academy-video-jobs"
    visibility = int(os.environ.get("VIDEO_VISIBILITY_TIMEOUT") or DEFAULT_VISIBILITY_TIMEOUT)
    captions = os.environ.get("VIDEO_CAPTIONS_QUEUE_NAME", "").strip() or "academy-caption-jobs"
    sqs = boto3.client("sqs")
    deadline = time.monotonic() + args.wait_seconds
    while True:
        try:
            url, dlq_url = create_queues(sqs, name, args.max_receive_count, visibility)
            captions_url, _ = create_queues(sqs, captions, args.max_receive_count, visibility)
            break
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                print(f"cannot create queues: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 1
            time.sleep(1)  # the SQS container is still starting
    print(
        json.dumps(
            {
                "event": "QUEUES_READY",
                "queue_url": url,
                "dlq_url": dlq_url,
                "captions_queue_url": captions_url,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
