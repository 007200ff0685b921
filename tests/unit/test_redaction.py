"""URL credentials are hidden in every text that leaves the process."""

from __future__ import annotations

import pytest

from src.application.domain import ErrorCode, VideoProcessingError
from src.application.domain.redaction import redact_url_credentials, redact_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'Could not connect to the endpoint URL: "http://key:secret@127.0.0.1:9/"',
            'Could not connect to the endpoint URL: "http://***@127.0.0.1:9/"',
        ),
        (
            "redis://:pw@cache:6379/0 and postgres://u:p@db/x",
            "redis://***@cache:6379/0 and postgres://***@db/x",
        ),
        ("https://user:p@ss@host/path", "https://***@host/path"),  # an unescaped @ in it
        ("HTTP://ID@HOST", "HTTP://***@HOST"),
        ("mailto-like a@b and http://host/a@b", "mailto-like a@b and http://host/a@b"),
        ("no url here", "no url here"),
    ],
)
def test_userinfo_is_replaced(text, expected):
    assert redact_url_credentials(text) == expected


def test_nested_log_fields_are_redacted():
    value = {"errors": [{"error": "http://k:s@h/"}], "n": 3, "t": ("s3://a:b@bucket",)}
    assert redact_value(value) == {
        "errors": [{"error": "http://***@h/"}],
        "n": 3,
        "t": ("s3://***@bucket",),
    }


def test_error_messages_stored_on_the_row_are_redacted():
    err = VideoProcessingError(ErrorCode.STORAGE_FAILED, "PUT http://k:secret@minio:9000/b failed")
    assert err.message == "PUT http://***@minio:9000/b failed"
    assert "secret" not in str(err)
