"""Cross-cutting rules: API keys, problem+json for every error, bad input refused cleanly."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.api.models import ApiKey
from apps.support.video.models import Video
from tests.integration.api.conftest import ApiHarness, assert_problem

pytestmark = pytest.mark.django_db

# -- API keys -----------------------------------------------------------------------------------


def test_create_api_key_prints_the_key_once_and_stores_only_its_hmac(api: ApiHarness):
    out = StringIO()
    call_command("create_api_key", "--tenant", "academy-a", "--name", "editor", stdout=out)
    key = out.getvalue().strip()
    assert key.startswith("avk_")
    row = ApiKey.objects.get(name="editor")
    assert key not in (row.key_hash, row.prefix) and row.prefix in key
    assert len(row.key_hash) == 64
    assert api.get("/api/v1/videos", key=key).status_code == 200


def test_create_api_key_for_an_unknown_tenant_creates_nothing(api: ApiHarness):
    with pytest.raises(CommandError, match="no tenant"):
        call_command("create_api_key", "--tenant", "nobody", stdout=StringIO())
    assert not ApiKey.objects.filter(tenant__slug="nobody").exists()


def test_x_api_key_header_works_too(api: ApiHarness):
    response = api.client.get("/api/v1/videos", headers={"X-API-Key": api.key})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no API key was given"),
        ({"Authorization": "Bearer avk_000000000000_nope"}, "the API key is not valid"),
        ({"Authorization": "Bearer not-a-key"}, "the API key is malformed"),
        ({"X-API-Key": "avk_000000000000_nope"}, "the API key is not valid"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "no API key was given"),
    ],
)
def test_missing_or_invalid_keys_are_401_problems(api: ApiHarness, headers, reason):
    response = api.client.get("/api/v1/videos", headers=headers)
    body = assert_problem(response, 401, "UNAUTHENTICATED")
    assert body["detail"].startswith(reason)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_refused(api: ApiHarness):
    forged = api.key[:-4] + ("AAAA" if not api.key.endswith("AAAA") else "BBBB")
    assert_problem(api.get("/api/v1/videos", key=forged), 401, "UNAUTHENTICATED")


def test_a_revoked_key_is_refused_at_once(api: ApiHarness):
    prefix = api.key.split("_")[1]
    out = StringIO()
    call_command("revoke_api_key", prefix, stdout=out)
    assert "revoked" in out.getvalue()
    body = assert_problem(api.get("/api/v1/videos"), 401, "UNAUTHENTICATED")
    assert body["detail"].startswith("the API key has been revoked")


def test_revoke_of_an_unknown_prefix_fails(api: ApiHarness):
    with pytest.raises(CommandError, match="no API key"):
        call_command("revoke_api_key", "0123456789ab", stdout=StringIO())


def test_keys_never_appear_in_logs(api: ApiHarness, capsys):
    api.create()
    api.get("/api/v1/videos", key="avk_000000000000_wrongsecret")
    out = capsys.readouterr().out
    assert '"API_REQUEST"' in out
    assert api.key not in out and "wrongsecret" not in out


# -- problem+json for every error ---------------------------------------------------------------


def test_unknown_routes_are_404_problems(api: ApiHarness):
    assert_problem(api.client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    assert_problem(api.client.get("/no/such/page"), 404, "NOT_FOUND")


def test_wrong_methods_are_405_problems(api: ApiHarness):
    body = assert_problem(api.client.delete("/api/v1/health"), 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in body["detail"]


def test_a_crash_is_a_500_problem_without_traceback(api: ApiHarness, capsys):
    class Broken:
        def get(self, *args, **kwargs):
            raise RuntimeError("secret internals")

    api.use_cases.queries.repository = Broken()
    response = api.get("/api/v1/videos/1")
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.content.decode()
    assert body["detail"].endswith("quote the trace_id when reporting it")
    logged = capsys.readouterr().out
    assert "API_INTERNAL_ERROR" in logged and body["trace_id"] in logged


def test_problem_types_are_documented(api: ApiHarness):
    response = api.client.get("/api/v1/problems/UPLOAD_NOT_FOUND")
    assert response.json() == {
        "code": "UPLOAD_NOT_FOUND",
        "title": "The source is missing, empty, not the declared size, or its upload expired",
    }


# -- bad input: a clear problem and nothing half-created ----------------------------------------


def _count() -> int:
    return Video.objects.count()


def test_wrong_content_type_is_415(api: ApiHarness):
    response = api.client.post(
        "/api/v1/videos", data="title=x", content_type="text/plain", headers=api.headers()
    )
    assert_problem(response, 415, "UNSUPPORTED_CONTENT_TYPE")
    complete = api.client.post(
        "/api/v1/videos/1/upload-complete",
        data="{}",
        content_type="text/plain",
        headers=api.headers(),
    )
    assert_problem(complete, 415, "UNSUPPORTED_CONTENT_TYPE")
    assert _count() == 0


def test_non_utf8_body_is_400(api: ApiHarness):
    response = api.client.post(
        "/api/v1/videos",
        data=b'{"title": "caf\xe9"}',
        content_type="application/json",
        headers=api.headers(),
    )
    body = assert_problem(response, 400, "MALFORMED_REQUEST")
    assert "UTF-8" in body["detail"]
    assert _count() == 0


def test_malformed_json_is_400(api: ApiHarness):
    response = api.client.post(
        "/api/v1/videos", data=b'{"title": ', content_type="application/json", headers=api.headers()
    )
    body = assert_problem(response, 400, "MALFORMED_REQUEST")
    assert "not valid JSON" in body["detail"]
    assert _count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "t", "colour": "red"}, "body.colour"),
        ({}, "body.title"),
        ({"title": "   "}, "body.title"),
        ({"title": "x" * 301}, "body.title"),
        ({"title": "t", "metadata": [1, 2]}, "body.metadata"),
        ({"title": "t", "metadata": {"blob": "x" * 20000}}, "body.metadata"),
        ({"title": "t", "size_bytes": -5}, "body.size_bytes"),
        ({"title": "t", "external_id": ""}, "body.external_id"),
        (["not", "an", "object"], "body"),
    ],
)
def test_invalid_fields_are_422_with_errors(api: ApiHarness, payload, field):
    body = assert_problem(api.post_json("/api/v1/videos", payload), 422, "VALIDATION_FAILED")
    assert field in [e["field"] for e in body["errors"]]
    assert _count() == 0


def test_unknown_field_in_upload_complete_is_422(api: ApiHarness):
    video = api.create()
    response = api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {"part": 1})
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["field"] == "body.part"


def test_oversized_json_body_is_413(api: ApiHarness):
    response = api.client.post(
        "/api/v1/videos",
        data=json.dumps({"title": "t", "metadata": {"x": "y" * 2_000_000}}),
        content_type="application/json",
        headers=api.headers(),
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert _count() == 0


@pytest.mark.parametrize("video_id", ["-1", "0", str(2**63), "99999999999999999999999", "abc"])
def test_negative_huge_or_non_numeric_ids_are_422(api: ApiHarness, video_id: str):
    body = assert_problem(api.get(f"/api/v1/videos/{video_id}"), 422, "VALIDATION_FAILED")
    assert body["errors"][0]["field"] == "path.video_id"


def test_an_unknown_id_is_404(api: ApiHarness):
    assert_problem(api.get(f"/api/v1/videos/{2**63 - 1}"), 404, "NOT_FOUND")


def test_upload_complete_with_no_object_is_409_and_the_row_waits(api: ApiHarness):
    video = api.create()
    body = assert_problem(
        api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {}),
        409,
        "UPLOAD_NOT_FOUND",
    )
    assert "no source has been uploaded" in body["detail"]
    assert Video.objects.get(pk=video["id"]).status == "AWAITING_UPLOAD"
    assert api.messages() == []


def test_upload_complete_with_a_too_large_object_is_413_and_deletes_it(api: ApiHarness):
    video = api.create()
    api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"x" * 2000)
    api.rebuild(max_source_bytes=1000)
    body = assert_problem(
        api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {}),
        413,
        "INPUT_TOO_LARGE",
    )
    assert "VIDEO_MAX_SOURCE_BYTES" in body["detail"]
    assert Video.objects.get(pk=video["id"]).status == "AWAITING_UPLOAD"
    assert [p for p in api.storage_root.rglob("*") if p.is_file()] == []
    assert api.messages() == []


def test_put_beyond_the_declared_size_is_413_and_stores_nothing(api: ApiHarness):
    video = api.create(size_bytes=100)
    body = assert_problem(
        api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"x" * 101),
        413,
        "INPUT_TOO_LARGE",
    )
    assert "declared" in body["detail"]
    assert [p for p in api.storage_root.rglob("*") if p.is_file()] == []
    exact = api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"x" * 100)
    assert exact.status_code == 200


def test_put_shorter_than_declared_fails_at_complete(api: ApiHarness):
    video = api.create(size_bytes=100)
    api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"x" * 60)
    body = assert_problem(
        api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {}),
        409,
        "UPLOAD_NOT_FOUND",
    )
    assert "declared as 100" in body["detail"]
    assert Video.objects.get(pk=video["id"]).status == "AWAITING_UPLOAD"


def test_put_beyond_the_source_limit_is_413(api: ApiHarness):
    api.rebuild(max_source_bytes=50)
    video = api.create()
    assert_problem(
        api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"x" * 51), 413, "INPUT_TOO_LARGE"
    )
    too_big = api.post_json("/api/v1/videos", {"title": "t", "size_bytes": 51})
    assert_problem(too_big, 413, "INPUT_TOO_LARGE")
    assert _count() == 1


def test_empty_put_is_refused(api: ApiHarness):
    video = api.create()
    assert_problem(
        api.put_bytes(f"/api/v1/videos/{video['id']}/source", b""), 409, "UPLOAD_NOT_FOUND"
    )


def test_put_after_the_upload_completed_is_409(api: ApiHarness):
    video = api.uploaded()
    assert_problem(
        api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"replace"), 409, "INVALID_STATE"
    )


def test_complete_after_the_upload_expired_is_409(api: ApiHarness):
    video = api.create()
    api.put_bytes(f"/api/v1/videos/{video['id']}/source", b"abc")
    from datetime import timedelta

    from django.utils import timezone

    Video.objects.filter(pk=video["id"]).update(
        upload_expires_at=timezone.now() - timedelta(seconds=1)
    )
    body = assert_problem(
        api.post_json(f"/api/v1/videos/{video['id']}/upload-complete", {}),
        409,
        "UPLOAD_NOT_FOUND",
    )
    assert "expired" in body["detail"]


# -- one-request multipart upload ----------------------------------------------------------------


def _form(api: ApiHarness, data: dict, key: str | None = None):
    return api.client.post("/api/v1/videos", data=data, headers=api.headers(key))


def test_multipart_upload_in_one_request(api: ApiHarness, tmp_path):
    source = tmp_path / "lecture one.mp4"
    source.write_bytes(b"\x00\x01" * 5000)
    with source.open("rb") as f:
        response = _form(
            api, {"title": "Lecture", "external_id": "ext-9", "metadata": '{"k": 1}', "file": f}
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == f"/api/v1/videos/{body['id']}"
    assert (body["status"], body["size_bytes"], body["external_id"]) == ("UPLOADED", 10000, "ext-9")
    assert body["metadata"] == {"k": 1}
    row = Video.objects.get(pk=body["id"])
    assert row.source_key.endswith("/source/lecture_one.mp4")
    assert (api.storage_root / row.source_key).read_bytes() == source.read_bytes()
    [message] = api.messages()
    assert message["MessageAttributes"]["trace_id"]["StringValue"] == response["X-Trace-Id"]


def test_multipart_without_a_file_creates_nothing(api: ApiHarness):
    body = assert_problem(_form(api, {"title": "no file"}), 422, "VALIDATION_FAILED")
    assert body["errors"][0]["field"] == "form.file"
    assert _count() == 0


def test_multipart_with_unknown_fields_creates_nothing(api: ApiHarness, tmp_path):
    source = tmp_path / "a.mp4"
    source.write_bytes(b"abc")
    with source.open("rb") as f:
        response = _form(api, {"title": "t", "colour": "red", "file": f})
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert body["errors"][0]["field"] == "form.colour"
    assert _count() == 0


def test_multipart_too_large_creates_nothing(api: ApiHarness, tmp_path):
    api.rebuild(max_source_bytes=4096)
    source = tmp_path / "big.mp4"
    source.write_bytes(b"x" * 100_000)
    with source.open("rb") as f:
        response = _form(api, {"title": "t", "file": f})
    assert_problem(response, 413, "INPUT_TOO_LARGE")
    assert _count() == 0
    assert [p for p in api.storage_root.rglob("*") if p.is_file()] == []


# -- health, readiness, version, docs, CORS ------------------------------------------------------


def test_health_version_and_docs_need_no_key(api: ApiHarness):
    assert api.client.get("/api/v1/health").json() == {"status": "ok"}
    version = api.client.get("/api/v1/version").json()
    assert version["version"] == "0.1.0" and version["revision"]
    schema = api.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/videos/{video_id}/upload-complete" in schema["paths"]
    docs = api.client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"openapi.json" in docs.content


def test_ready_names_the_dependency_that_failed(api: ApiHarness):
    from bench.harness import free_port
    from src.infrastructure.cache.redis_progress_adapter import RedisProgressAdapter, redis_client

    assert api.client.get("/api/v1/ready").json()["status"] == "ready"
    api.serve(progress=RedisProgressAdapter(redis_client(f"redis://127.0.0.1:{free_port()}/0")))
    body = assert_problem(api.client.get("/api/v1/ready"), 503, "SERVICE_UNAVAILABLE")
    assert body["detail"] == "not ready: redis unavailable"
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("failed")


def test_cors_allows_only_listed_origins(api: ApiHarness, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://editor.academy.test"]
    preflight = api.client.options(
        "/api/v1/videos",
        headers={
            "Origin": "https://editor.academy.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight["Access-Control-Allow-Origin"] == "https://editor.academy.test"
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    other = api.client.get(
        "/api/v1/videos", headers={**api.headers(), "Origin": "https://evil.test"}
    )
    assert "Access-Control-Allow-Origin" not in other


# -- input schemathesis found failing at the database ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "t", "metadata": {"\u00002": 1}}, "body.metadata"),
        ({"title": "t", "metadata": {"k": ["a\u0000"]}}, "body.metadata"),
        ({"title": "t\u0000"}, "body.title"),
        ({"title": "t", "external_id": "x\udac9"}, "body.external_id"),
        ({"title": "t", "metadata": {"k": "\ud800"}}, "body.metadata"),
    ],
)
def test_text_the_database_cannot_store_is_a_field_error(api: ApiHarness, body, field):
    raw = json.dumps(body)  # NUL and lone surrogates as \\u escapes, as a client sends them
    response = api.client.post(
        "/api/v1/videos", data=raw, content_type="application/json", headers=api.headers()
    )
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["field"] == field
    assert _count() == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("created_after=9999-12-31T23%3A59%3A59-23%3A00", "query.created_after"),  # after 9999
        ("external_id=a%00b", "query.external_id"),
        ("cursor=%00", "query.cursor"),
    ],
)
def test_list_queries_the_database_cannot_take_are_refused(api: ApiHarness, query, field):
    problem = assert_problem(api.get(f"/api/v1/videos?{query}"), 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["field"] == field


def test_a_time_with_any_offset_is_compared_in_utc(api: ApiHarness):
    api.create(title="now")
    # +19:27 is no offset PostgreSQL takes; in UTC it is an ordinary time in the year 408.
    response = api.get("/api/v1/videos?created_after=0408-01-17T14%3A39%3A29.471%2B19%3A27")
    assert response.status_code == 200 and len(response.json()["items"]) == 1


def test_a_multipart_body_without_a_boundary_is_a_bad_request(api: ApiHarness):
    response = api.client.generic(
        "POST",
        "/api/v1/videos",
        data=b'{"title": "t"}',
        content_type="multipart/form-data",
        headers=api.headers(),
    )
    body = assert_problem(response, 400, "MALFORMED_REQUEST")
    assert "multipart/form-data body cannot be read" in body["detail"]
    assert _count() == 0
