"""RedisProgressAdapter against the real Redis: the telemetry contract (the fake passes it
too), the contract keys and TTLs, and Redis down."""

from __future__ import annotations

import json
import random
import time

import pytest
import redis

from bench.harness import free_port, wait_until
from src.application.ports.progress import TelemetryUnavailable
from src.infrastructure.cache.redis_keys import heartbeat_key, progress_key
from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client
from tests.contracts.progress import ProgressContract, Telemetry
from tests.e2e.harness import TEST_REDIS_URL


@pytest.fixture
def ids():
    tenant, video = random.randrange(10**6, 10**9), random.randrange(10**6, 10**9)
    yield tenant, video
    redis.Redis.from_url(TEST_REDIS_URL).delete(
        progress_key(tenant, video), heartbeat_key(tenant, video)
    )


def test_progress_refreshes_heartbeat_with_contract_ttls(ids):
    tenant, video = ids
    adapter = RedisProgressAdapter(redis_client(TEST_REDIS_URL), heartbeat_ttl=45)
    adapter.record_progress(tenant, video, 140.0, "transcode", "worker-a")
    raw = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    record = json.loads(raw.get(f"tenant:{tenant}:video:{video}:progress"))
    assert record["percent"] == 100.0  # clamped
    assert (record["step"], record["worker_id"]) == ("transcode", "worker-a")
    assert 3590 < raw.ttl(f"tenant:{tenant}:video:{video}:progress") <= 3600
    assert raw.get(f"tenant:{tenant}:video:{video}:heartbeat") == "worker-a"
    assert 40 < raw.ttl(f"tenant:{tenant}:video:{video}:heartbeat") <= 45
    assert adapter.has_heartbeat(tenant, video)
    assert adapter.get_progress(tenant, video)["percent"] == 100.0
    adapter.delete_heartbeat(tenant, video)
    assert not adapter.has_heartbeat(tenant, video)


def test_progress_carries_the_jobs_trace_id(ids):
    tenant, video = ids
    adapter = RedisProgressAdapter(redis_client(TEST_REDIS_URL))
    adapter.record_progress(tenant, video, 12.0, "transcode", "worker-a", trace_id="trace-77")
    assert adapter.get_progress(tenant, video)["trace_id"] == "trace-77"
    adapter.record_progress(tenant, video, 13.0, "transcode", "worker-a")
    assert "trace_id" not in adapter.get_progress(tenant, video)


def test_redis_down_is_telemetry_unavailable_not_a_missing_heartbeat(ids):
    tenant, video = ids
    adapter = RedisProgressAdapter(redis_client(f"redis://127.0.0.1:{free_port()}/0"))
    for call in (
        lambda: adapter.has_heartbeat(tenant, video),
        lambda: adapter.set_heartbeat(tenant, video, "w"),
        lambda: adapter.record_progress(tenant, video, 5, "transcode", "w"),
    ):
        with pytest.raises(TelemetryUnavailable, match="redis unavailable"):
            call()


class TestRedisProgressContract(ProgressContract):
    @pytest.fixture
    def telemetry(self, ids) -> Telemetry:
        down = RedisProgressAdapter(redis_client(f"redis://127.0.0.1:{free_port()}/0"))
        port = RedisProgressAdapter(redis_client(TEST_REDIS_URL), heartbeat_ttl=1)
        yield Telemetry(
            port,
            down,
            lambda seconds: time.sleep(seconds),  # the TTL under test is the event
            lambda fn: wait_until(fn, 5, interval=0.05, what="redis"),
        )
        redis.Redis.from_url(TEST_REDIS_URL).delete(progress_key(*ids), heartbeat_key(*ids))
