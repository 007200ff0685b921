"""Settings from the environment: defaults, production requirements, clear errors."""

from __future__ import annotations

import os
import re
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
    assert (cfg.progress_token_ttl_seconds, cfg.progress_poll_seconds) == (900, 5)


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
        ({"VIDEO_HEARTBEAT_TTL": "0"}, "VIDEO_HEARTBEAT_TTL must be between 1 and 3600"),
        ({"VIDEO_VISIBILITY_TIMEOUT": "50000"}, "VIDEO_VISIBILITY_TIMEOUT must be between"),
        ({"VIDEO_FAST_ACK": "maybe"}, "VIDEO_FAST_ACK must be 0 or 1"),
        ({"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL must start with"),
        ({"VIDEO_STORAGE_URL": "ftp://x/y"}, "VIDEO_STORAGE_URL must be a URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must be a URL"),
        ({"VIDEO_API_RATE_PER_SECOND": "fast"}, "VIDEO_API_RATE_PER_SECOND must be a number"),
        ({"VIDEO_API_RATE_PER_SECOND": "-1"}, "VIDEO_API_RATE_PER_SECOND must be between 0"),
        ({"VIDEO_API_RATE_PER_SECOND": "nan"}, "VIDEO_API_RATE_PER_SECOND must be between 0"),
        ({"VIDEO_API_RATE_PER_SECOND": "inf"}, "VIDEO_API_RATE_PER_SECOND must be between 0"),
        ({"VIDEO_API_RATE_BURST": "0"}, "VIDEO_API_RATE_BURST must be between 1 and 100000"),
        ({"VIDEO_API_RATE_BURST": "2.5"}, "VIDEO_API_RATE_BURST must be an integer"),
    ],
)
def test_bad_settings_name_the_variable(env, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        load_config(env)


# Settings that used to pass start-up and then fail every job (or every claim).
@pytest.mark.parametrize(
    ("env", "needle"),
    [
        # renewed every 20 s, expires after 30 s: one slow renewal and a healthy job is reclaimed
        ({"VIDEO_HEARTBEAT_TTL": "60", "VIDEO_LEASE_SECONDS": "30"}, "VIDEO_LEASE_SECONDS (30)"),
        ({"VIDEO_HEARTBEAT_TTL": "90", "VIDEO_LEASE_SECONDS": "30"}, "every VIDEO_HEARTBEAT_TTL"),
        ({"WORKER_ID": "w" * 129}, "WORKER_ID must be at most 128 characters, got 129"),
        ({"WORKER_ID": "worker one"}, "WORKER_ID must be printable ASCII without spaces"),
        ({"VIDEO_LEASE_SECONDS": "999999999999"}, "VIDEO_LEASE_SECONDS must be between 1 and"),
        ({"VIDEO_HEARTBEAT_TTL": "100000"}, "VIDEO_HEARTBEAT_TTL must be between 1 and 3600"),
        ({"VIDEO_STALL_SECONDS": "10000000"}, "VIDEO_STALL_SECONDS must be between"),
        ({"VIDEO_REENQUEUE_AFTER_SECONDS": "9" * 15}, "VIDEO_REENQUEUE_AFTER_SECONDS must be"),
        ({"VIDEO_SHUTDOWN_GRACE_SECONDS": "86400"}, "VIDEO_SHUTDOWN_GRACE_SECONDS must be"),
        ({"VIDEO_MAX_DURATION_SECONDS": "1000000"}, "VIDEO_MAX_DURATION_SECONDS must be"),
        ({"VIDEO_MAX_SOURCE_BYTES": str(2**60)}, "VIDEO_MAX_SOURCE_BYTES must be between"),
        ({"VIDEO_MAX_WIDTH": "1"}, "VIDEO_MAX_WIDTH must be between 2 and 16384"),
        ({"VIDEO_MAX_HEIGHT": "100000"}, "VIDEO_MAX_HEIGHT must be between 2 and 16384"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/zero"}, "REDIS_URL's database must be a number"),
        ({"REDIS_URL": "redis://127.0.0.1:6379?db=x"}, "REDIS_URL's database must be a number"),
        ({"REDIS_URL": "redis://127.0.0.1:port/0"}, "REDIS_URL has an invalid port"),
        ({"REDIS_URL": "redis:///0"}, "REDIS_URL must name a host"),
        ({"VIDEO_SQS_QUEUE_URL": "http:///123/q"}, "VIDEO_SQS_QUEUE_URL must name a host"),
        ({"AWS_ENDPOINT_URL": "http://localhost:99999"}, "AWS_ENDPOINT_URL has an invalid port"),
        ({"VIDEO_SQS_QUEUE_NAME": "videos jobs"}, "VIDEO_SQS_QUEUE_NAME must be 1-80 letters"),
        ({"VIDEO_SQS_QUEUE_NAME": "q" * 81}, "VIDEO_SQS_QUEUE_NAME must be 1-80 letters"),
        ({"AWS_DEFAULT_REGION": "moon"}, "AWS_DEFAULT_REGION must be a region"),
        ({"VIDEO_STORAGE_URL": "file://relative/media"}, "VIDEO_STORAGE_URL must be file:///"),
        ({"VIDEO_STORAGE_URL": "s3:///prefix"}, "VIDEO_STORAGE_URL must be s3://bucket/prefix"),
        ({"VIDEO_WORK_DIR": "relative/work"}, "VIDEO_WORK_DIR must be an absolute path"),
        ({"DATABASE_URL": "postgres://u@db.example:5432"}, "DATABASE_URL must name a database"),
        ({"DATABASE_URL": "sqlite://relative.db"}, "DATABASE_URL must name an absolute file"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of DEBUG, INFO"),
        (
            {"VIDEO_PROGRESS_TOKEN_TTL_SECONDS": "0"},
            "VIDEO_PROGRESS_TOKEN_TTL_SECONDS must be between 10 and 86400, got 0",
        ),
        (
            {"VIDEO_PROGRESS_TOKEN_TTL_SECONDS": "a week"},
            "VIDEO_PROGRESS_TOKEN_TTL_SECONDS must be an integer",
        ),
        ({"VIDEO_PROGRESS_POLL_SECONDS": "600"}, "VIDEO_PROGRESS_POLL_SECONDS must be between 1"),
        ({"VIDEO_LIVE_CHANNEL_PREFIX": "a:b"}, "VIDEO_LIVE_CHANNEL_PREFIX must be 1-40 letters"),
    ],
)
def test_settings_that_would_fail_every_job_stop_start_up(env, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config(env)


def test_lease_spanning_two_renewals_is_accepted():
    cfg = load_config({"VIDEO_HEARTBEAT_TTL": "3", "VIDEO_LEASE_SECONDS": "2"})
    assert cfg.heartbeat_interval == 1.0 and cfg.lease_seconds == 2


def test_worker_id_limit_is_the_column_length():
    from academy.config import WORKER_ID_MAX_LENGTH
    from apps.support.video.models import Video

    assert Video._meta.get_field("leased_by").max_length == WORKER_ID_MAX_LENGTH
    assert load_config({"WORKER_ID": "w" * WORKER_ID_MAX_LENGTH}).worker_id == "w" * 128


def test_default_worker_id_fits_the_column_whatever_the_host_name(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "h" * 300)
    assert len(load_config({}).worker_id) <= 128


@pytest.mark.parametrize("variable", ["VIDEO_WORK_DIR", "VIDEO_STORAGE_URL", "DATABASE_URL"])
def test_folders_that_cannot_be_created_stop_start_up(tmp_path, variable):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = blocker / "sub"
    value = {
        "VIDEO_WORK_DIR": str(path),
        "VIDEO_STORAGE_URL": f"file://{path}",
        "DATABASE_URL": f"sqlite:///{path}/db.sqlite3",
    }[variable]
    with pytest.raises(ConfigError, match=f"^{variable}.*is not a folder"):
        load_config({variable: value})


def test_work_dir_on_a_read_only_filesystem_stops_start_up(read_only_dir):
    with pytest.raises(ConfigError, match=r"VIDEO_WORK_DIR .* cannot be created in"):
        load_config({"VIDEO_WORK_DIR": str(read_only_dir / "work")})
    with pytest.raises(ConfigError, match=r"VIDEO_WORK_DIR .* is not writable"):
        load_config({"VIDEO_WORK_DIR": str(read_only_dir)})


def test_work_dir_that_can_be_created_is_accepted_and_not_created(tmp_path):
    cfg = load_config({"VIDEO_WORK_DIR": str(tmp_path / "new" / "work")})
    assert cfg.work_dir == str(tmp_path / "new" / "work")
    assert not (tmp_path / "new").exists()  # start-up checks, the first job creates it


def test_config_errors_never_echo_credentials():
    for env in (
        {"AWS_ENDPOINT_URL": "http://key:s3cr3t@localhost:port"},
        {"REDIS_URL": "redis://:s3cr3t@cache:6379/db"},
        {"DATABASE_URL": "postgres://u:s3cr3t@db.example:5432"},
    ):
        with pytest.raises(ConfigError) as info:
            load_config(env)
        assert "s3cr3t" not in str(info.value)


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


def test_allowed_hosts():
    assert load_config({"DJANGO_DEBUG": "1"}).allowed_hosts == ("*",)
    production = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "s" * 40,
        "DATABASE_URL": "postgres://u@db:5432/x",
        "API_KEY_PEPPER": "p" * 32,
    }
    assert load_config(production).allowed_hosts == ("localhost", "127.0.0.1")
    named = load_config({**production, "DJANGO_ALLOWED_HOSTS": "api.academy.test, .academy.test"})
    assert named.allowed_hosts == ("api.academy.test", ".academy.test")
    with pytest.raises(ConfigError, match="DJANGO_ALLOWED_HOSTS"):
        load_config({**production, "DJANGO_ALLOWED_HOSTS": "api.academy.test/path"})


def test_rate_limits_default_and_zero_turns_them_off():
    cfg = load_config({})
    assert (cfg.api_rate_per_second, cfg.api_rate_burst) == (10, 60)
    from academy.bootstrap import build_rate_limiter

    assert build_rate_limiter(load_config({"VIDEO_API_RATE_PER_SECOND": "0"})) is None
    limiter = build_rate_limiter(load_config({"VIDEO_API_RATE_PER_SECOND": "2.5"}))
    assert (limiter.rate, limiter.burst) == (2.5, 60)


@pytest.mark.parametrize("raw, days", [("", None), ("0", None), (" 30 ", 30), ("3650", 3650)])
def test_source_retention_is_off_unless_set(raw, days):
    assert load_config({"VIDEO_SOURCE_RETENTION_DAYS": raw}).source_retention_days == days
    assert load_config({}).source_retention_days is None


@pytest.mark.parametrize(
    "raw, message",
    [("a week", "an integer"), ("-1", "between 0 and 3650"), ("4000", "between 0 and 3650")],
)
def test_invalid_source_retention_is_a_clear_config_error(raw, message):
    with pytest.raises(ConfigError, match=f"VIDEO_SOURCE_RETENTION_DAYS must be {message}"):
        load_config({"VIDEO_SOURCE_RETENTION_DAYS": raw})


def test_playback_settings(tmp_path):
    from src.infrastructure.playback.tokens import new_rsa_key_pair

    config = load_config({})
    assert config.playback.default_policy == "signed"  # private by default
    assert config.playback.token_ttl_seconds == 3600
    assert load_config({"VIDEO_DEFAULT_PLAYBACK_POLICY": "PUBLIC"}).playback.default_policy == (
        "public"
    )
    private_pem, _public = new_rsa_key_pair()
    key_file = tmp_path / "cloudfront.pem"
    key_file.write_text(private_pem)
    from_file = load_config(
        {"VIDEO_CLOUDFRONT_KEY_PAIR_ID": "K1", "VIDEO_CLOUDFRONT_PRIVATE_KEY_FILE": str(key_file)}
    )
    assert from_file.playback.cloudfront_private_key == private_pem.strip()
    assert private_pem not in repr(from_file)  # never in a repr that could reach a log
    for env, needle in (
        ({"VIDEO_DEFAULT_PLAYBACK_POLICY": "open"}, "VIDEO_DEFAULT_PLAYBACK_POLICY must be"),
        ({"VIDEO_PLAYBACK_TOKEN_TTL_SECONDS": "5"}, "VIDEO_PLAYBACK_TOKEN_TTL_SECONDS must be"),
        ({"VIDEO_CLOUDFRONT_KEY_PAIR_ID": "K1"}, "go together"),
        ({"VIDEO_CLOUDFRONT_PRIVATE_KEY": private_pem}, "go together"),
        (
            {"VIDEO_CLOUDFRONT_KEY_PAIR_ID": "K1", "VIDEO_CLOUDFRONT_PRIVATE_KEY": "s3cr3t"},
            "not an unencrypted PEM key",
        ),
        (
            {"VIDEO_CLOUDFRONT_KEY_PAIR_ID": "K1", "VIDEO_CLOUDFRONT_PRIVATE_KEY_FILE": "/nope"},
            "VIDEO_CLOUDFRONT_PRIVATE_KEY_FILE cannot be read",
        ),
    ):
        with pytest.raises(ConfigError, match=needle) as info:
            load_config(env)
        assert "s3cr3t" not in str(info.value)
