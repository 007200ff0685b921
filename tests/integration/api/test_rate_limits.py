"""Per-key token buckets in the real Redis (a key prefix of this test's own), and Redis down."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest
from structlog.testing import capture_logs

from academy import current
from apps.support.video.models import Video
from bench.harness import free_port, wait_until
from src.infrastructure.cache.redis_progress_adapter import redis_client
from src.infrastructure.cache.redis_rate_limiter import RedisTokenBucket
from tests.integration.api.conftest import ApiHarness, assert_problem
from tests.services import redis_test_url

pytestmark = pytest.mark.django_db

REDIS_URL = redis_test_url(11)


@pytest.fixture
def bucket_prefix():
    prefix = f"test-ratelimit:{uuid.uuid4().hex}:"
    yield prefix
    client = redis_client(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def limit(api: ApiHarness, prefix: str, *, rate: float, burst: int, url: str = REDIS_URL):
    limiter = RedisTokenBucket(redis_client(url), rate=rate, burst=burst, prefix=prefix)
    current.override(dataclasses.replace(api.use_cases, rate_limiter=limiter))
    return limiter


def test_every_response_says_how_many_requests_are_left(api: ApiHarness, bucket_prefix):
    limit(api, bucket_prefix, rate=0.001, burst=3)
    seen = []
    for _ in range(3):
        response = api.get("/api/v1/videos")
        assert response.status_code == 200
        assert response["RateLimit-Limit"] == "3"
        seen.append(response["RateLimit-Remaining"])
        assert 0 < int(response["RateLimit-Reset"]) <= 3000
    assert seen == ["2", "1", "0"]
    refused = api.post_json("/api/v1/videos", {"title": "one too many"})
    body = assert_problem(refused, 429, "RATE_LIMITED")
    assert refused["Retry-After"] == "1000"  # one token back at 0.001 a second
    assert (refused["RateLimit-Limit"], refused["RateLimit-Remaining"]) == ("3", "0")
    assert "retry in 1000 s" in body["detail"]
    assert Video.objects.count() == 0  # the refused POST created nothing
    _other_tenant, other_key = api.new_tenant("academy-b")
    assert api.get("/api/v1/videos", key=other_key).status_code == 200  # its own bucket


def test_the_bucket_refills_at_the_configured_rate(api: ApiHarness, bucket_prefix):
    limit(api, bucket_prefix, rate=5, burst=2)
    assert [api.get("/api/v1/videos").status_code for _ in range(2)] == [200, 200]
    refused = api.get("/api/v1/videos")
    emptied_at = time.monotonic()
    assert refused.status_code == 429 and refused["Retry-After"] == "1"
    wait_until(lambda: api.get("/api/v1/videos").status_code == 200, 5, what="a refilled token")
    # One token takes 1/5 s to come back (a little less: some time passed before the 429).
    assert time.monotonic() - emptied_at >= 0.1


def test_unauthenticated_and_health_requests_take_no_token(api: ApiHarness, bucket_prefix):
    limit(api, bucket_prefix, rate=0.001, burst=1)
    assert api.client.get("/api/v1/health").status_code == 200
    assert "RateLimit-Limit" not in api.client.get("/api/v1/health")
    assert api.client.get("/api/v1/videos").status_code == 401
    assert api.get("/api/v1/videos")["RateLimit-Remaining"] == "0"


def test_one_atomic_script_under_concurrent_takes(bucket_prefix):
    limiter = RedisTokenBucket(redis_client(REDIS_URL), rate=0.001, burst=10, prefix=bucket_prefix)
    start = threading.Barrier(8)
    allowed = []

    def take_many():
        start.wait(10)
        for _ in range(5):
            decision = limiter.take("shared")
            allowed.append(decision.allowed)

    threads = [threading.Thread(target=take_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(allowed) == 40 and sum(allowed) == 10


def test_redis_down_lets_requests_through_and_warns_once(api: ApiHarness, bucket_prefix):
    limit(api, bucket_prefix, rate=0.001, burst=1, url=f"redis://127.0.0.1:{free_port()}/0")
    with capture_logs() as logs:
        responses = [api.get("/api/v1/videos") for _ in range(5)]
        created = api.post_json("/api/v1/videos", {"title": "still accepted"})
    assert [r.status_code for r in responses] == [200] * 5
    assert created.status_code == 201
    assert "RateLimit-Limit" not in responses[0]
    warnings = [e for e in logs if e["event"] == "RATE_LIMIT_UNAVAILABLE"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert "not enforced" in warnings[0]["detail"]
