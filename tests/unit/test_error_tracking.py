"""SENTRY_DSN: errors are reported through sentry-sdk with nothing secret in them (an
in-process transport captures what would be sent; no network)."""

from __future__ import annotations

import json

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from academy import error_tracking
from tests.dev_config import dev_config

API_KEY = "avk_0123456789ab_Zp9xQ2hLr7sKdWmT4vBnYc8eFgHj1kLo3uIiOpAsDf"
PRESIGNED = (
    "https://media.s3.amazonaws.com/tenants/7/videos/9/source/a.mp4?X-Amz-Algorithm=AWS4"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20261206&X-Amz-Signature=deadbeefcafe0123"
)
PROGRESS_TOKEN = "eyJ0Ijo3LCJ2Ijo5LCJrIjoxfQ:1vTq2b:Hn3pB0cQk8xJm4yR"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class CapturingTransport(Transport):
    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict]:
        return [
            json.loads(item.payload.get_bytes())
            for envelope in self.envelopes
            for item in envelope.items
            if item.type == "event"
        ]


@pytest.fixture
def captured():
    transport = CapturingTransport()
    config = dev_config({"SENTRY_DSN": "https://public@sentry.example.invalid/1"})
    assert error_tracking.init_error_tracking(config, "test", transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: off again
    error_tracking._initialised = False


def _fail_with_secrets() -> None:
    token = PROGRESS_TOKEN  # noqa: F841 - a local the event's frames carry
    api_key = API_KEY  # noqa: F841
    headers = {"Authorization": f"Bearer {API_KEY}", "X-API-Key": API_KEY}  # noqa: F841
    raise RuntimeError(
        f"upload to {PRESIGNED} failed for key {API_KEY} with {WEBHOOK_SECRET}, "
        f"stream ?token={PROGRESS_TOKEN}"
    )


def test_an_error_is_reported_with_every_secret_scrubbed(captured):
    try:
        _fail_with_secrets()
    except RuntimeError as exc:
        sentry_sdk.capture_exception(exc)
    sentry_sdk.flush(5)
    [event] = captured.events()
    text = json.dumps(event)
    assert "RuntimeError" in text and "_fail_with_secrets" in text  # the report is useful
    assert "avk_0123456789ab_[Filtered]" in text  # which key, never the key
    assert "tenants/7/videos/9/source/a.mp4?[Filtered]" in text
    for secret in (
        "Zp9xQ2hLr7sKdWmT4vBnYc8eFgHj1kLo3uIiOpAsDf",
        "deadbeefcafe0123",
        "AKIAEXAMPLE",
        PROGRESS_TOKEN,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ):
        assert secret not in text, secret
    assert event["tags"]["component"] == "test"


def test_request_headers_cookies_and_query_are_scrubbed():
    event = {
        "request": {
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": API_KEY, "Accept": "*/*"},
            "cookies": {"academy_session": "signed-value"},
            "query_string": f"token={PROGRESS_TOKEN}&page=2",
            "url": "https://api.example/api/v1/videos/9/events",
        },
        "extra": {"receipt_handle": "AQEB-long-handle", "lease_token": 3},
    }
    scrubbed = error_tracking.scrub_event(event)
    assert scrubbed["request"]["headers"] == {
        "Authorization": "[Filtered]",
        "X-Api-Key": "[Filtered]",
        "Accept": "*/*",
    }
    assert scrubbed["request"]["cookies"] == "[Filtered]" or scrubbed["request"]["cookies"] == {
        "academy_session": "[Filtered]"
    }
    assert PROGRESS_TOKEN not in json.dumps(scrubbed)
    assert scrubbed["extra"]["receipt_handle"] == "[Filtered]"


def test_without_a_dsn_nothing_is_started():
    assert error_tracking.init_error_tracking(dev_config({}), "test") is False
    assert sentry_sdk.get_client().dsn is None
