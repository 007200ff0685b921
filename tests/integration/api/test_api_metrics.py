"""GET /metrics on the API: requests by route and status, latency, read after real requests."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from src.infrastructure.cache.redis_progress_adapter import redis_client
from tests.integration.api.conftest import ApiHarness
from tests.integration.api.test_rate_limits import REDIS_URL, limit

pytestmark = pytest.mark.django_db

VIDEO_ROUTE = "/api/v1/videos/<video_id>"


def samples(api: ApiHarness) -> dict[tuple[str, tuple], float]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def count(values, route: str, method: str, status: str) -> float:
    labels = tuple(sorted({"route": route, "method": method, "status": status}.items()))
    return values.get(("api_requests_total", labels), 0.0)


def latency_count(values, route: str, method: str) -> float:
    labels = tuple(sorted({"route": route, "method": method}.items()))
    return values.get(("api_request_duration_seconds_count", labels), 0.0)


def test_requests_are_counted_by_route_and_status(api: ApiHarness):
    before = samples(api)
    video = api.create()
    assert api.get(f"/api/v1/videos/{video['id']}").status_code == 200
    assert api.get(f"/api/v1/videos/{video['id'] + 1000}").status_code == 404
    assert api.get("/api/v1/videos/1", key="not-a-key").status_code == 401
    after = samples(api)

    # One series per route pattern, whatever id the path held.
    assert count(after, VIDEO_ROUTE, "GET", "200") - count(before, VIDEO_ROUTE, "GET", "200") == 1
    assert count(after, VIDEO_ROUTE, "GET", "404") - count(before, VIDEO_ROUTE, "GET", "404") == 1
    assert count(after, VIDEO_ROUTE, "GET", "401") - count(before, VIDEO_ROUTE, "GET", "401") == 1
    assert latency_count(after, VIDEO_ROUTE, "GET") - latency_count(before, VIDEO_ROUTE, "GET") == 3
    assert not any(f"/videos/{video['id']}" in str(key) for key in after)


def test_unknown_paths_share_one_series(api: ApiHarness):
    before = samples(api)
    assert api.get("/nothing/here/123").status_code == 404
    assert api.get("/nothing/else").status_code == 404
    after = samples(api)
    assert count(after, "unmatched", "GET", "404") - count(before, "unmatched", "GET", "404") == 2


def test_metrics_answers_only_get(api: ApiHarness):
    assert api.client.post("/metrics").status_code == 405


@pytest.fixture
def metrics_bucket():
    prefix = f"test-metrics-ratelimit:{uuid.uuid4().hex}:"
    yield prefix
    client = redis_client(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_rate_limit_rejections_and_idempotent_replays_are_counted(api: ApiHarness, metrics_bucket):
    def total(values, name: str) -> float:
        return values.get((name, (("route", "/api/v1/videos"),)), 0.0)

    before = samples(api)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    assert api.post_json("/api/v1/videos", {"title": "Week 1"}, **key).status_code == 201
    assert api.post_json("/api/v1/videos", {"title": "Week 1"}, **key).status_code == 201
    limit(api, metrics_bucket, rate=0.001, burst=1)
    assert api.get("/api/v1/videos").status_code == 200
    assert api.get("/api/v1/videos").status_code == 429
    after = samples(api)
    for name in ("api_idempotent_replays_total", "api_rate_limited_total"):
        assert total(after, name) - total(before, name) == 1, name
