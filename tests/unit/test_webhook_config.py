"""The webhook settings: safe defaults, and a clear error naming each bad variable."""

from __future__ import annotations

import pytest

from academy.config import ConfigError
from tests.dev_config import dev_config


def test_defaults_refuse_insecure_and_private_destinations():
    hooks = dev_config({}).webhooks
    assert (hooks.allow_insecure, hooks.allow_private) == (False, False)
    assert (hooks.timeout_seconds, hooks.concurrency, hooks.retention_days) == (10, 8, 30)
    assert hooks.api_base_url == "http://127.0.0.1:8000"


def test_dev_switches_and_base_url():
    hooks = dev_config(
        {
            "VIDEO_WEBHOOK_ALLOW_INSECURE": "1",
            "VIDEO_WEBHOOK_ALLOW_PRIVATE": "true",
            "VIDEO_API_BASE_URL": "https://api.academy.example/",
        }
    ).webhooks
    assert (hooks.allow_insecure, hooks.allow_private) == (True, True)
    assert hooks.api_base_url == "https://api.academy.example"


@pytest.mark.parametrize(
    "name, value",
    [
        ("VIDEO_WEBHOOK_ALLOW_INSECURE", "maybe"),
        ("VIDEO_WEBHOOK_ALLOW_PRIVATE", "2"),
        ("VIDEO_WEBHOOK_TIMEOUT_SECONDS", "0"),
        ("VIDEO_WEBHOOK_TIMEOUT_SECONDS", "31"),
        ("VIDEO_WEBHOOK_CONCURRENCY", "65"),
        ("VIDEO_WEBHOOK_CONCURRENCY", "x"),
        ("VIDEO_WEBHOOK_RETENTION_DAYS", "3"),
        ("VIDEO_API_BASE_URL", "ftp://api.example"),
        ("VIDEO_API_BASE_URL", "https://"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        dev_config({name: value})
