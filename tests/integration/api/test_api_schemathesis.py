"""Property-based run of schemathesis against the OpenAPI schema the API serves.

The schema is fetched from /api/v1/openapi.json through Django's WSGI handler (in-process,
real PostgreSQL, Redis and moto as in the other API tests), and every operation gets
EXAMPLES generated requests, valid and invalid, authenticated with a real key. Derandomized:
the same examples every run. Checked for every response: no 5xx, and every error (4xx/5xx)
is `application/problem+json` with the fields of RFC 9457 plus `code` and `trace_id`.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api.conftest import PROBLEM_FIELDS, ApiHarness

# Each test item flushes a real database; what threads and the WSGI handler commit, it sees.
pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 25


@schemathesis.check
def errors_are_problem_json(ctx, response, case) -> None:
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type == "application/problem+json", (
        f"{response.status_code} answered with {content_type!r}: {response.text[:300]}"
    )
    body = json.loads(response.text)
    missing = PROBLEM_FIELDS - set(body)
    assert not missing, f"problem body without {sorted(missing)}: {body}"
    assert body["status"] == response.status_code, body


# Fetched at collection (the schema route needs no database): one test per operation.
# The event stream runs until its video ends: tests/integration/live covers it.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application()).exclude(
    operation_id="stream_video_events"
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_every_error_is_a_problem(case, api: ApiHarness):
    case.call_and_validate(
        headers=api.headers(),
        checks=[
            not_a_server_error,
            errors_are_problem_json,
            # The schema tells the truth: every status, content type and body sent is declared.
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
