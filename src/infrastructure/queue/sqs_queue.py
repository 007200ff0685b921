"""SqsVideoQueue: the job queue on SQS through boto3 (moto or LocalStack via AWS_ENDPOINT_URL)."""

from __future__ import annotations

import json

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from src.application.ports.queue import QueueMessage, QueueNotFound, VideoQueue

_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}

# Long polling: 20 s is SQS's maximum and the cheapest way to wait for work.
LONG_POLL_SECONDS = 20


def sqs_client(region: str, endpoint_url: str | None = None, timeout: float = 30.0):
    """A client whose read timeout outlasts the long poll, with adaptive retries."""
    return boto3.client(
        "sqs",
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=Config(
            connect_timeout=5,
            read_timeout=max(timeout, LONG_POLL_SECONDS + 10),
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


class SqsVideoQueue(VideoQueue):
    def __init__(self, client, queue_url: str = "", queue_name: str = "") -> None:
        self.client = client
        self._queue_url = queue_url
        self.queue_name = queue_name

    @property
    def queue_url(self) -> str:
        if not self._queue_url:
            try:
                self._queue_url = self.client.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _MISSING_QUEUE:
                    raise QueueNotFound(
                        f"SQS queue {self.queue_name!r} does not exist (VIDEO_SQS_QUEUE_NAME)"
                    ) from None
                raise
        return self._queue_url

    def check(self) -> None:
        try:
            self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_QUEUE:
                raise QueueNotFound(
                    f"SQS queue {self.queue_url.rsplit('/', 1)[-1]!r} does not exist"
                    " (VIDEO_SQS_QUEUE_URL)"
                ) from None
            raise

    def receive(
        self, wait_seconds: int, visibility_timeout: int | None = None
    ) -> QueueMessage | None:
        kwargs = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": 1,
            "WaitTimeSeconds": max(0, min(wait_seconds, LONG_POLL_SECONDS)),
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
            "MessageAttributeNames": ["All"],
        }
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout
        messages = self.client.receive_message(**kwargs).get("Messages", [])
        if not messages:
            return None
        m = messages[0]
        attrs = {
            name: value.get("StringValue", "")
            for name, value in (m.get("MessageAttributes") or {}).items()
        }
        return QueueMessage(
            body=m.get("Body", ""),
            receipt_handle=m["ReceiptHandle"],
            message_id=m.get("MessageId", ""),
            receive_count=int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 1)),
            attributes=attrs,
        )

    def delete(self, message: QueueMessage) -> None:
        self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)

    def change_visibility(self, message: QueueMessage, seconds: int) -> None:
        self.client.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=seconds,
        )

    def send(
        self,
        video_id: int,
        tenant_id: int,
        request_id: str,
        trace_id: str | None = None,
        delay_seconds: int = 0,
    ) -> str:
        kwargs = {
            "QueueUrl": self.queue_url,
            "MessageBody": json.dumps(
                {"video_id": video_id, "tenant_id": tenant_id, "request_id": request_id}
            ),
            "DelaySeconds": max(0, min(delay_seconds, 900)),
        }
        if trace_id:
            kwargs["MessageAttributes"] = {
                "trace_id": {"DataType": "String", "StringValue": trace_id}
            }
        return self.client.send_message(**kwargs)["MessageId"]
