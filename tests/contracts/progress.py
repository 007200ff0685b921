"""The ProgressPort contract: live progress and the heartbeat, on the fake and on Redis.

A subclass provides `telemetry`: a port whose heartbeat TTL is 1 s, `advance(seconds)` and
`eventually(fn)` as in the queue contract, and `down`: the same port with its store gone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from src.application.ports.progress import ProgressPort, TelemetryUnavailable


@dataclass
class Telemetry:
    port: ProgressPort
    down: ProgressPort
    advance: Callable[[float], None]
    eventually: Callable[[Callable[[], Any]], Any]


class ProgressContract:
    @pytest.fixture
    def ids(self) -> tuple[int, int]:
        # Random: a real Redis is shared with other test runs.
        return random.randrange(10**6, 10**9), random.randrange(10**6, 10**9)

    def test_progress_is_read_back_as_written_and_clamped(self, telemetry: Telemetry, ids):
        port = telemetry.port
        assert port.get_progress(*ids) is None
        port.record_progress(*ids, 42.345, "transcode", "worker-a")
        record = port.get_progress(*ids)
        assert (record["percent"], record["step"], record["worker_id"]) == (
            42.3,
            "transcode",
            "worker-a",
        )
        assert datetime.fromisoformat(record["updated_at"]).tzinfo is not None
        port.record_progress(*ids, 140.0, "transcode", "worker-a")
        assert port.get_progress(*ids)["percent"] == 100.0
        port.record_progress(*ids, -3, "download", "worker-a")
        assert port.get_progress(*ids)["percent"] == 0.0

    def test_writing_progress_refreshes_the_heartbeat(self, telemetry: Telemetry, ids):
        port = telemetry.port
        assert not port.has_heartbeat(*ids)
        port.record_progress(*ids, 1.0, "transcode", "worker-a")
        assert port.has_heartbeat(*ids)
        port.delete_heartbeat(*ids)
        assert not port.has_heartbeat(*ids)
        assert port.get_progress(*ids) is not None, "progress outlives the heartbeat"

    def test_a_heartbeat_not_refreshed_expires_after_its_ttl(self, telemetry: Telemetry, ids):
        port = telemetry.port
        port.set_heartbeat(*ids, "worker-a")
        assert port.has_heartbeat(*ids)
        telemetry.advance(1)
        assert telemetry.eventually(lambda: not port.has_heartbeat(*ids))

    def test_a_store_that_is_down_is_unavailable_not_empty(self, telemetry: Telemetry, ids):
        down = telemetry.down
        calls = (
            lambda: down.has_heartbeat(*ids),
            lambda: down.set_heartbeat(*ids, "w"),
            lambda: down.record_progress(*ids, 5, "transcode", "w"),
            lambda: down.delete_heartbeat(*ids),
            lambda: down.get_progress(*ids),
        )
        for call in calls:
            with pytest.raises(TelemetryUnavailable):
                call()
