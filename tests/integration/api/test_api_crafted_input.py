"""Crafted input is a clear 4xx problem that creates nothing: JSON past the limits (depth,
number size, non-finite numbers) and names people read back (titles, external ids)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.support.video.models import Video
from tests.integration.api.conftest import ApiHarness, assert_problem

DEEP = '{"a":' * 1000 + "1" + "}" * 1000
HUGE_INT = "9" * 5000


def _post_raw(api: ApiHarness, body: str, **headers):
    return api.client.post(
        "/api/v1/videos",
        data=body,
        content_type="application/json",
        headers={**api.headers(), **headers},
    )


@pytest.mark.parametrize(
    "metadata, needle",
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e400", "out of range"),
        ("-1e400", "out of range"),
        (HUGE_INT, "at most 40 characters"),
        ("0." + "1" * 100, "at most 40 characters"),
        (DEEP, "nested at most 32 levels"),
        ("[" * 100000 + "]" * 100000, "nested at most 32 levels"),
    ],
    ids=["nan", "inf", "-inf", "1e400", "-1e400", "int-5000", "long-float", "deep", "deep-list"],
)
@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotency-key"])
def test_json_past_the_limits_is_422_and_creates_nothing(api, metadata, needle, idempotent):
    headers = {"Idempotency-Key": f"k-{abs(hash(metadata))}"} if idempotent else {}
    body = '{"title": "Lecture", "metadata": {"x": ' + metadata + "}}"
    problem = assert_problem(_post_raw(api, body, **headers), 422, "VALIDATION_FAILED")
    assert needle in problem["detail"]
    assert Video.objects.count() == 0


def test_json_past_the_limits_in_the_multipart_metadata_field_is_422(api, tmp_path):
    source = tmp_path / "lecture.mp4"
    source.write_bytes(b"\x00" * 100)
    for metadata, needle in (('{"x": NaN}', "NaN"), (DEEP, "nested"), (HUGE_INT, "characters")):
        with source.open("rb") as f:
            response = api.client.post(
                "/api/v1/videos",
                data={"title": "Lecture", "metadata": metadata, "file": f},
                headers=api.headers(),
            )
        problem = assert_problem(response, 422, "VALIDATION_FAILED")
        assert needle in problem["detail"]
        assert problem["errors"][0]["field"] == "form.metadata"
    assert Video.objects.count() == 0


def test_json_within_the_limits_keeps_its_numbers(api):
    metadata = {"n": 2**62, "f": 1.5, "neg": -0.25, "deep": {"a": {"b": {"c": [1, [2]]}}}}
    assert api.create(metadata=metadata)["metadata"] == metadata


@pytest.mark.parametrize(
    "field, value, needle",
    [
        ("title", "Lecture\x00", "NUL"),
        ("title", "Lecture\x1b[31m red", "control characters (U+001B)"),
        ("title", "Lecture\nline two", "control characters (U+000A)"),
        ("title", "Lecture\x85", "control characters (U+0085)"),
        ("title", "invoice\u202egpj.exe", "bidirectional control characters (U+202E)"),
        ("title", "a\u2066b\u2069", "bidirectional control characters (U+2066)"),
        ("title", "\u200b\u200b", "must contain a visible character"),
        ("title", "\u3164\u3164", "must contain a visible character"),
        ("title", "\u2800", "must contain a visible character"),
        ("title", "\ufeff \u2060", "must contain a visible character"),
        ("external_id", "ext\x07", "control characters (U+0007)"),
        ("external_id", "ext\u202d1", "bidirectional control characters"),
        ("external_id", "\u200b", "must contain a visible character"),
    ],
)
def test_names_with_control_bidi_or_nothing_visible_are_422(api, field, value, needle):
    body = {"title": "Lecture", field: value}
    problem = assert_problem(api.post_json("/api/v1/videos", body), 422, "VALIDATION_FAILED")
    assert needle in problem["detail"]
    assert Video.objects.count() == 0


@pytest.mark.parametrize(
    "title",
    [
        "Lineare Algebra \u2013 Vorlesung 3",
        "مقدمة في الجبر",  # right-to-left script, no control character needed
        "線形代数 第3回",
        "Family 👩‍👩‍👧 lecture",  # emoji joined by U+200D
        "Ünïcödé café",
    ],
)
def test_ordinary_unicode_titles_are_kept(api, title):
    assert api.create(title=title, external_id=f"ext-{title}")["title"] == title


def test_ready_checks_storage_with_a_probe_it_removes(api: ApiHarness):
    ready = api.client.get("/api/v1/ready")
    assert ready.json()["checks"]["storage"] == "ok"
    assert not list(api.storage_root.rglob("*probe*")), "the probe object was left behind"
    from src.infrastructure.storage.local_storage import LocalStorage

    api.serve(storage=LocalStorage(Path("/dev/null/media")))  # no write can succeed
    body = assert_problem(api.client.get("/api/v1/ready"), 503, "SERVICE_UNAVAILABLE")
    assert body["detail"] == "not ready: storage unavailable"
    assert body["checks"]["storage"].startswith("failed")


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"X-Trace-Id": "upstream-trace-42"}, "upstream-trace-42"),
        ({"X-Trace-Id": "bad id\n", "X-Request-ID": "req-7"}, "req-7"),
        ({"X-Trace-Id": "t-1", "X-Request-ID": "req-7"}, "t-1"),
        (
            {
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "X-Trace-Id": "t-1",
            },
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
    ],
)
def test_an_inbound_x_trace_id_is_the_trace_id_when_there_is_no_traceparent(
    api: ApiHarness, headers, expected
):
    response = api.post_json("/api/v1/videos", {"title": "Traced"}, **headers)
    assert response.status_code == 201
    assert response["X-Trace-Id"] == expected
    assert Video.objects.get(pk=response.json()["id"]).trace_id == expected
