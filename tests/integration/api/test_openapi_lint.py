"""The served OpenAPI document: valid OpenAPI 3.1 (openapi-spec-validator) and written the way
client generators need it (the house rules below, checked on every operation)."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from apps.api.http.problems import CONTENT_TYPE as PROBLEM
from src.application.domain import ErrorCode, PlaybackPolicy, VideoStatus
from src.application.domain.webhooks import DeliveryStatus, VideoEventType
from tests.integration.api.conftest import ApiHarness

pytestmark = pytest.mark.django_db(transaction=True)

OPERATION_ID = re.compile(r"^[a-z]+(_[a-z]+)*$")
# Component names are the models' own: never a module path a generator would turn into
# `AppsApiRouters…`.
COMPONENT = re.compile(r"^[A-Z][A-Za-z]+$")
METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def schema(api: ApiHarness) -> dict:
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_the_schema_is_valid_openapi(schema):
    validate(schema)  # raises, naming the first violation


def test_operation_ids_are_stable_snake_case_and_unique(schema):
    ids = [op["operationId"] for _p, _m, op in operations(schema)]
    assert all(OPERATION_ID.match(i) for i in ids), ids
    assert len(ids) == len(set(ids))
    for expected in ("create_video", "upload_video", "complete_upload", "stream_video_events"):
        assert expected in ids


def test_every_operation_has_a_summary_and_a_tag(schema):
    for path, method, op in operations(schema):
        assert op.get("summary") and op.get("tags"), f"{method} {path}"


def test_components_have_plain_names_and_bodies_are_references(schema):
    names = set(schema["components"]["schemas"])
    assert all(COMPONENT.match(n) for n in names), sorted(names)
    for path, method, op in operations(schema):
        for media in op.get("requestBody", {}).get("content", {}).values():
            binary = media["schema"] == {"type": "string", "format": "binary"}
            assert binary or "$ref" in media["schema"], f"{method} {path} has an inline body"


def test_every_error_is_declared_as_the_problem_model(schema):
    for path, method, op in operations(schema):
        statuses = {int(s) for s in op["responses"]}
        assert {405, 500, 503} <= statuses, f"{method} {path}"
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {
                    PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}
                }, f"{method} {path} {status}"


def test_post_operations_that_take_an_idempotency_key_declare_it(schema):
    for path, method, op in operations(schema):
        if method == "post":
            headers = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
            assert headers == ["Idempotency-Key"], f"{method} {path}"


def test_status_code_and_event_fields_are_enums(schema):
    components = schema["components"]["schemas"]
    assert components["VideoStatus"]["enum"] == [s.value for s in VideoStatus]
    assert components["ErrorCode"]["enum"] == [c.value for c in ErrorCode]
    assert components["DeliveryStatus"]["enum"] == [s.value for s in DeliveryStatus]
    assert components["VideoEventType"]["enum"] == [t.value for t in VideoEventType]
    assert components["PlaybackPolicy"]["enum"] == [p.value for p in PlaybackPolicy]
    policy = components["VideoOut"]["properties"]["playback_policy"]
    assert policy == {"$ref": "#/components/schemas/PlaybackPolicy"}
    assert components["VideoOut"]["properties"]["status"] == {
        "$ref": "#/components/schemas/VideoStatus"
    }
    assert components["ProblemOut"]["properties"]["code"] == {
        "$ref": "#/components/schemas/ErrorCode"
    }
    renditions = components["VideoOut"]["properties"]["renditions"]
    assert renditions["items"] == {"$ref": "#/components/schemas/RenditionOut"}


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/api/v1/videos/{video_id}/upload-complete", "CompleteUploadIn"),
        ("/api/v1/videos/{video_id}/playback-tokens", "PlaybackTokenIn"),
    ],
)
def test_optional_bodies_are_optional_and_never_null(schema, path, model):
    op = schema["paths"][path]["post"]
    assert op["requestBody"]["required"] is False
    assert op["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}
    }


def test_the_event_stream_is_documented_with_its_event_types(schema):
    op = schema["paths"]["/api/v1/videos/{video_id}/events"]["get"]
    assert list(op["responses"]["200"]["content"]) == ["text/event-stream"]
    for event in ("connected", "progress", "ready", "failed", "canceled"):
        assert f"`{event}`" in op["description"]
    assert op["security"], "the stream takes an API key or its token"
