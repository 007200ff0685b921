"""SqsVideoQueue against moto's server passes the queue contract (the fake passes it too)."""

from __future__ import annotations

import time

import boto3
import pytest

from bench.harness import wait_until
from src.infrastructure.queue.sqs_queue import SqsVideoQueue
from tests.contracts.queue import QueueContract, Timeline


def _let_pass(seconds: float) -> None:
    time.sleep(seconds + 0.2)  # the timeout under test is the event: let it run out


class TestSqsQueueContract(QueueContract):
    @pytest.fixture
    def timeline(self, sqs) -> Timeline:
        client = boto3.client("sqs", endpoint_url=sqs.endpoint, region_name="us-east-1")
        queue = SqsVideoQueue(client, queue_url=sqs.url)
        return Timeline(queue, _let_pass, lambda fn: wait_until(fn, 10, what="the queue"))
