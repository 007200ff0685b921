"""Failed authentications are throttled per client address and per key prefix: 429 with
Retry-After, before the key is even checked (the API and the web sign-in alike)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from apps.api.keys.api_keys import split_prefix
from src.infrastructure.cache.redis_auth_throttle import RedisAuthThrottle
from src.infrastructure.cache.redis_progress_adapter import redis_client
from tests.integration.api.conftest import API_TEST_REDIS_URL, ApiHarness, assert_problem

pytestmark = pytest.mark.django_db
FAILURES = 5


@pytest.fixture
def throttle(api: ApiHarness):
    client = redis_client(API_TEST_REDIS_URL)
    prefix = f"test-authfail-{uuid.uuid4().hex}:"
    api.use_cases.auth_throttle = RedisAuthThrottle(
        client, failures=FAILURES, window_seconds=60, prefix=prefix
    )
    yield api.use_cases.auth_throttle
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def _wrong(key: str) -> str:
    return key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")


def test_wrong_keys_from_one_address_become_429_with_retry_after(api: ApiHarness, throttle):
    _other, other_key = api.new_tenant("academy-other")
    for _ in range(FAILURES):
        assert_problem(api.get("/api/v1/videos", key=_wrong(api.key)), 401, "UNAUTHENTICATED")
    # Wrong keys for any prefix (and even a right key) from this address now wait.
    for key in (_wrong(other_key), "garbage", api.key):
        response = api.get("/api/v1/videos", key=key)
        body = assert_problem(response, 429, "RATE_LIMITED")
        assert 1 <= int(response["Retry-After"]) <= 60
        assert "too many failed authentications" in body["detail"]
    # Another address with a right key is served.
    other = api.client.get(
        "/api/v1/videos", headers=api.headers(other_key), REMOTE_ADDR="198.51.100.7"
    )
    assert other.status_code == 200


def test_wrong_keys_for_one_prefix_from_many_addresses_become_429(api: ApiHarness, throttle):
    for n in range(FAILURES):
        response = api.client.get(
            "/api/v1/videos", headers={"X-API-Key": _wrong(api.key)}, REMOTE_ADDR=f"203.0.113.{n}"
        )
        assert response.status_code == 401
    response = api.client.get(
        "/api/v1/videos", headers={"X-API-Key": _wrong(api.key)}, REMOTE_ADDR="203.0.113.99"
    )
    assert_problem(response, 429, "RATE_LIMITED")
    assert response["Retry-After"].isdigit()
    assert throttle.blocked([f"key:{split_prefix(api.key)}"]) > 0


def test_the_web_sign_in_is_throttled_too(api: ApiHarness, throttle):
    client = Client()
    for _ in range(FAILURES):
        page = client.post("/sign-in", {"api_key": _wrong(api.key)})
        assert page.status_code == 200 and "Sign-in failed" in page.content.decode()
    refused = client.post("/sign-in", {"api_key": api.key})
    assert refused.status_code == 429
    assert refused["Retry-After"].isdigit()
    assert "Too many failed sign-ins" in refused.content.decode()


def test_redis_down_does_not_lock_anyone_out(api: ApiHarness, throttle):
    from bench.harness import free_port

    throttle.client = redis_client(f"redis://127.0.0.1:{free_port()}/0")
    for _ in range(FAILURES + 2):
        assert api.get("/api/v1/videos", key=_wrong(api.key)).status_code == 401
    assert api.get("/api/v1/videos").status_code == 200
