"""Settings from the environment: defaults, production requirements, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from academy.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_local_and_safe():
    cfg = load_config({})
    assert cfg.debug is True
    assert cfg.database["ENGINE"].endswith("sqlite3")
    assert str(cfg.database["NAME"]).endswith("var/db.sqlite3")
    assert cfg.sqs_queue_name == "academy-video-jobs"
    assert cfg.fast_ack is False
    assert cfg.heartbeat_ttl == 60
    assert cfg.max_attempts == 3
    assert cfg.storage_url.startswith("file://")


def test_postgres_url_is_parsed():
    cfg = load_config({"DATABASE_URL": "postgres://u:pw@db.example:5433/videos"})
    assert cfg.database["ENGINE"] == "django.db.backends.postgresql"
    assert (cfg.database["HOST"], cfg.database["PORT"], cfg.database["NAME"]) == (
        "db.example",
        5433,
        "videos",
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DJANGO_DEBUG": "0", "DATABASE_URL": "postgres://h/db"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "k"}, "DATABASE_URL"),
        ({"VIDEO_LEASE_SECONDS": "abc"}, "VIDEO_LEASE_SECONDS must be an integer, got 'abc'"),
        ({"VIDEO_HEARTBEAT_TTL": "0"}, "VIDEO_HEARTBEAT_TTL must be at least 1"),
        ({"VIDEO_VISIBILITY_TIMEOUT": "50000"}, "VIDEO_VISIBILITY_TIMEOUT must be between"),
        ({"VIDEO_FAST_ACK": "maybe"}, "VIDEO_FAST_ACK must be 0 or 1"),
        ({"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL must start with"),
        ({"VIDEO_STORAGE_URL": "ftp://x/y"}, "VIDEO_STORAGE_URL must be a URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must be a URL"),
    ],
)
def test_bad_settings_name_the_variable(env, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        load_config(env)


def test_summary_never_contains_credentials():
    cfg = load_config(
        {
            "DATABASE_URL": "postgres://admin:hunter2@db.internal:5432/videos",
            "REDIS_URL": "redis://:redispw@cache.internal:6379/0",
            "DJANGO_SECRET_KEY": "topsecret",
        }
    )
    text = repr(cfg.summary())
    assert "db.internal" in text
    for secret in ("hunter2", "redispw", "topsecret", "admin"):
        assert secret not in text


def _manage(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manage_py_reports_invalid_value_without_traceback():
    proc = _manage({"VIDEO_LEASE_SECONDS": "abc"}, "check")
    assert proc.returncode == 1
    assert "configuration error: VIDEO_LEASE_SECONDS must be an integer, got 'abc'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_manage_py_production_without_secret_key_stops():
    proc = _manage({"DJANGO_DEBUG": "0", "DATABASE_URL": "postgres://h/db"}, "check")
    assert proc.returncode == 1
    assert "DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0" in proc.stderr
    assert "Traceback" not in proc.stderr
