"""The queue and telemetry fakes pass the same contract suites as SQS and Redis do
(tests/integration/test_sqs_queue_contract.py, test_redis_progress_adapter.py)."""

from __future__ import annotations

import pytest

from src.application.ports.fakes import FakeClock, InMemoryProgress, InMemoryQueue
from tests.contracts.progress import ProgressContract, Telemetry
from tests.contracts.queue import QueueContract, Timeline


def _at_once(fn):
    value = fn()
    assert value, "the fake did not answer at once"
    return value


class TestInMemoryQueueContract(QueueContract):
    @pytest.fixture
    def timeline(self) -> Timeline:
        clock = FakeClock()
        return Timeline(InMemoryQueue(clock=clock), clock.advance, _at_once)


class TestInMemoryProgressContract(ProgressContract):
    @pytest.fixture
    def telemetry(self) -> Telemetry:
        clock = FakeClock()
        down = InMemoryProgress(heartbeat_ttl=1, clock=clock)
        down.available = False
        return Telemetry(
            InMemoryProgress(heartbeat_ttl=1, clock=clock), down, clock.advance, _at_once
        )
