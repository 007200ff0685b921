"""Idempotency-Key on POST: replay, conflicts, reuse with another body, scope, retention.

The concurrency tests run real threads against PostgreSQL (each with its own connection), so
they use a transactional test database: what one thread commits, the other sees.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from academy import current
from academy.adapters.db.django.idempotency_store import RETENTION
from apps.api.models import IdempotencyRecord
from apps.support.video.models import Video
from tests.integration.api.conftest import ApiHarness, assert_problem

pytestmark = pytest.mark.django_db

KEY = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _create(api: ApiHarness, body: dict, key: str = KEY, api_key: str | None = None):
    return api.post_json("/api/v1/videos", body, api_key, **{"Idempotency-Key": key})


def test_a_retry_replays_the_first_response_and_creates_nothing(api: ApiHarness):
    first = _create(api, {"title": "Week 1", "metadata": {"a": 1}})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    # Same request, other spacing and key order: the same fingerprint.
    again = api.client.post(
        "/api/v1/videos",
        data='{ "metadata": {"a": 1},   "title": "Week 1" }',
        content_type="application/json",
        headers={**api.headers(), "Idempotency-Key": KEY},
    )
    assert again.status_code == 201  # the first status: nothing new was created
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert Video.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(api: ApiHarness):
    assert _create(api, {"title": "Week 1"}).status_code == 201
    body = assert_problem(_create(api, {"title": "Week 2"}), 422, "IDEMPOTENCY_KEY_REUSED")
    assert "different request body" in body["detail"]
    assert list(Video.objects.values_list("title", flat=True)) == ["Week 1"]


def test_keys_are_scoped_by_tenant_and_route(api: ApiHarness):
    video = _create(api, {"title": "Week 1"}).json()
    _other, other_key = api.new_tenant("academy-b")
    other = _create(api, {"title": "Week 1"}, api_key=other_key)
    assert other.status_code == 201 and other.json()["id"] != video["id"]
    # The same key on another route is another request.
    cancel = api.post_json(f"/api/v1/videos/{video['id']}/cancel", {}, **{"Idempotency-Key": KEY})
    assert cancel.status_code == 200 and cancel.json()["status"] == "CANCELED"
    replay = api.post_json(f"/api/v1/videos/{video['id']}/cancel", {}, **{"Idempotency-Key": KEY})
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (200, "true")
    assert replay.json() == cancel.json()
    assert Video.objects.count() == 2


def test_a_refused_state_change_is_replayed_too(api: ApiHarness):
    video = api.uploaded()
    Video.objects.filter(pk=video["id"]).update(status="READY")
    path = f"/api/v1/videos/{video['id']}/retry"
    first = assert_problem(
        api.post_json(path, {}, **{"Idempotency-Key": KEY}), 409, "INVALID_STATE"
    )
    Video.objects.filter(pk=video["id"]).update(status="FAILED")
    replay = api.post_json(path, {}, **{"Idempotency-Key": KEY})
    # The key's answer does not change with the row: retry with a new key to retry again.
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (409, "true")
    assert replay.json()["detail"] == first["detail"]
    assert api.post_json(path, {}, **{"Idempotency-Key": "new"}).status_code == 202


def test_refused_input_does_not_use_up_the_key(api: ApiHarness):
    assert_problem(_create(api, {"title": ""}), 422, "VALIDATION_FAILED")
    assert_problem(_create(api, {"title": "x", "colour": "red"}), 422, "VALIDATION_FAILED")
    fixed = _create(api, {"title": "Week 1"})
    assert fixed.status_code == 201
    assert Video.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there"])
def test_a_malformed_key_is_refused(api: ApiHarness, key: str):
    response = api.client.post(
        "/api/v1/videos",
        data='{"title": "t"}',
        content_type="application/json",
        headers={**api.headers(), "Idempotency-Key": key},
    )
    assert_problem(response, 400, "IDEMPOTENCY_KEY_INVALID")
    assert Video.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_one_request_upload_is_replayed_by_its_file(api: ApiHarness, tmp_path):
    source = tmp_path / "lecture.mp4"
    source.write_bytes(b"\x00\x01" * 5000)

    def send(data: bytes, title: str = "Lecture"):
        path = tmp_path / "lecture.mp4"
        path.write_bytes(data)
        with path.open("rb") as f:
            return api.client.post(
                "/api/v1/videos",
                data={"title": title, "file": f},
                headers={**api.headers(), "Idempotency-Key": KEY},
            )

    first = send(b"\x00\x01" * 5000)
    assert first.status_code == 202, first.content
    again = send(b"\x00\x01" * 5000)
    assert (again.status_code, again["Idempotent-Replayed"]) == (202, "true")
    assert again.json() == first.json()
    # Same size and name, other bytes: another request.
    assert_problem(send(b"\x00\x02" * 5000), 422, "IDEMPOTENCY_KEY_REUSED")
    assert Video.objects.count() == 1
    assert len(api.messages()) == 1


def test_an_expired_key_can_be_used_again(api: ApiHarness):
    # Pruning expired records is the cleanup pass's (tests/integration/test_cleanup_videos.py);
    # until it runs, an expired record is no claim.
    first = _create(api, {"title": "Week 1"}).json()
    old = timezone.now() - RETENTION - timedelta(minutes=1)
    IdempotencyRecord.objects.update(created_at=old)
    second = _create(api, {"title": "Week 1"})
    assert second.status_code == 201 and second.json()["id"] != first["id"]


# -- concurrency: real threads, real PostgreSQL ---------------------------------------------------


class _BlockingUploads:
    """DirectUpload whose create waits until released: the first request stays in flight."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def create(self, *args, **kwargs):
        self.entered.set()
        assert self.release.wait(30), "the test never released the first request"
        return self.inner.create(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _in_thread(fn):
    try:
        return fn()
    finally:
        connection.close()  # each thread's own connection


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_is_in_flight_is_a_conflict(api: ApiHarness):
    blocking = _BlockingUploads(api.use_cases.uploads)
    current.override(dataclasses.replace(api.use_cases, uploads=blocking))
    headers = {**api.headers(), "Idempotency-Key": KEY}

    def post():
        return Client().post(
            "/api/v1/videos",
            data='{"title": "t"}',
            content_type="application/json",
            headers=headers,
        )

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_in_thread, post)
        assert blocking.entered.wait(30)
        conflict = post()
        blocking.release.set()
        created = first.result(timeout=30)
    body = assert_problem(conflict, 409, "IDEMPOTENCY_KEY_IN_USE")
    assert conflict["Retry-After"] == "1"
    assert "still being processed" in body["detail"]
    assert created.status_code == 201
    replay = post()
    assert (replay.status_code, replay.json()) == (201, created.json())
    assert Video.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_with_one_key_create_exactly_one_video(api: ApiHarness):
    headers = {**api.headers(), "Idempotency-Key": KEY}
    start = threading.Barrier(2)

    def post():
        start.wait(10)
        return Client().post(
            "/api/v1/videos",
            data='{"title": "race"}',
            content_type="application/json",
            headers=headers,
        )

    for _round in range(5):
        IdempotencyRecord.objects.all().delete()
        Video.objects.all().delete()
        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(lambda _n: _in_thread(post), range(2)))
        answers = sorted(
            ((r.status_code, r.get("Idempotent-Replayed")) for r in responses),
            key=lambda answer: (answer[0], answer[1] or ""),  # None sorts first
        )
        # One creates; the other saw it in flight (409) or finished (a replay of the 201).
        expected = ([(201, None), (201, "true")], [(201, None), (409, None)])
        assert answers in expected, [r.content for r in responses]
        assert Video.objects.count() == 1
