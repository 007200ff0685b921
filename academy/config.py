"""Every environment variable the project reads, parsed and validated in one place."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


class ConfigError(Exception):
    """An invalid or missing setting; the message names the variable."""


@dataclass(frozen=True)
class AppConfig:
    debug: bool
    secret_key: str
    database: dict[str, Any]
    redis_url: str
    sqs_queue_url: str
    sqs_queue_name: str
    aws_endpoint_url: str
    aws_region: str
    storage_url: str
    fast_ack: bool
    lease_seconds: int
    heartbeat_ttl: int
    max_attempts: int
    visibility_timeout: int
    shutdown_grace_seconds: int
    worker_id: str
    max_duration_seconds: int
    max_source_bytes: int
    max_width: int
    max_height: int
    hls_segment_seconds: int
    stall_seconds: int
    reenqueue_after_seconds: int
    work_dir: str
    log_level: str

    @property
    def heartbeat_interval(self) -> float:
        """Refresh period of heartbeat and lease: a third of the TTL, as the contract says."""
        return max(self.heartbeat_ttl / 3.0, 0.2)

    def summary(self) -> dict[str, Any]:
        """What is safe to log: hosts and numbers, never credentials or full URLs."""
        db = self.database
        return {
            "database_engine": db["ENGINE"].rsplit(".", 1)[-1],
            "database_host": db.get("HOST") or "local-file",
            "redis_host": urlparse(self.redis_url).hostname or "",
            "sqs_queue": self.sqs_queue_url.rsplit("/", 1)[-1]
            if self.sqs_queue_url
            else self.sqs_queue_name,
            "aws_endpoint_host": urlparse(self.aws_endpoint_url).hostname or "",
            "storage": urlparse(self.storage_url).scheme,
            "fast_ack": self.fast_ack,
            "lease_seconds": self.lease_seconds,
            "heartbeat_ttl": self.heartbeat_ttl,
            "max_attempts": self.max_attempts,
            "visibility_timeout": self.visibility_timeout,
            "shutdown_grace_seconds": self.shutdown_grace_seconds,
        }


def _int(
    env: environ.Env, name: str, default: int, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = (
            f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        )
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


def _bool(env: environ.Env, name: str, default: bool) -> bool:
    raw = env.str(name, default="1" if default else "0").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")


def _database(env: environ.Env, debug: bool) -> dict[str, Any]:
    raw = env.str("DATABASE_URL", default="").strip()
    if not raw:
        if not debug:
            raise ConfigError("DATABASE_URL is required when DJANGO_DEBUG=0")
        raw = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql", "psql"}:
        raise ConfigError(
            f"DATABASE_URL must start with sqlite:// or postgres://, got scheme {scheme!r}"
        )
    try:
        db = environ.Env.db_url_config(raw)
    except Exception as exc:  # noqa: BLE001 - any parse error becomes a config error
        raise ConfigError(f"DATABASE_URL cannot be parsed: {type(exc).__name__}") from None
    if "sqlite" in db["ENGINE"]:
        # Concurrent workers on SQLite wait for the write lock instead of failing at once.
        db.setdefault("OPTIONS", {})["timeout"] = 30
    else:
        # Workers keep one connection per thread; a broken one is noticed and replaced
        # (DjangoVideoRepository checks it before each call) instead of failing forever.
        db["CONN_MAX_AGE"] = 60
        db["CONN_HEALTH_CHECKS"] = True
        db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    return db


def _url(env: environ.Env, name: str, default: str, schemes: set[str]) -> str:
    raw = env.str(name, default=default).strip()
    if raw and urlparse(raw).scheme not in schemes:
        allowed = ", ".join(sorted(f"{s}://" for s in schemes))
        raise ConfigError(f"{name} must be a URL starting with {allowed}")
    return raw


def load_config(environ_map: Mapping[str, str] | None = None) -> AppConfig:
    """Parse the environment; raises ConfigError naming the first bad variable."""
    source = dict(os.environ if environ_map is None else environ_map)
    env = environ.Env()
    env.ENVIRON = source  # read from the given mapping, not the process
    debug = _bool(env, "DJANGO_DEBUG", True)
    secret = env.str("DJANGO_SECRET_KEY", default="").strip()
    if not secret:
        if not debug:
            raise ConfigError("DJANGO_SECRET_KEY is required when DJANGO_DEBUG=0")
        secret = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105
    lease = _int(env, "VIDEO_LEASE_SECONDS", 120, minimum=1)
    ttl = _int(env, "VIDEO_HEARTBEAT_TTL", 60, minimum=1)
    visibility = _int(env, "VIDEO_VISIBILITY_TIMEOUT", 300, minimum=2, maximum=43200)
    return AppConfig(
        debug=debug,
        secret_key=secret,
        database=_database(env, debug),
        redis_url=_url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", {"redis", "rediss", "unix"}),
        sqs_queue_url=_url(env, "VIDEO_SQS_QUEUE_URL", "", {"http", "https"}),
        sqs_queue_name=env.str("VIDEO_SQS_QUEUE_NAME", default="academy-video-jobs").strip()
        or "academy-video-jobs",
        aws_endpoint_url=_url(env, "AWS_ENDPOINT_URL", "", {"http", "https"}),
        aws_region=env.str("AWS_DEFAULT_REGION", default="us-east-1").strip() or "us-east-1",
        storage_url=_url(env, "VIDEO_STORAGE_URL", f"file://{VAR_DIR / 'media'}", {"file", "s3"}),
        fast_ack=_bool(env, "VIDEO_FAST_ACK", False),
        lease_seconds=lease,
        heartbeat_ttl=ttl,
        max_attempts=_int(env, "VIDEO_MAX_ATTEMPTS", 3, minimum=1, maximum=100),
        visibility_timeout=visibility,
        shutdown_grace_seconds=_int(env, "VIDEO_SHUTDOWN_GRACE_SECONDS", 25, minimum=0),
        worker_id=env.str("WORKER_ID", default="").strip()
        or f"{socket.gethostname()}-{os.getpid()}",
        max_duration_seconds=_int(env, "VIDEO_MAX_DURATION_SECONDS", 4 * 3600),
        max_source_bytes=_int(env, "VIDEO_MAX_SOURCE_BYTES", 10 * 1024**3),
        max_width=_int(env, "VIDEO_MAX_WIDTH", 7680),
        max_height=_int(env, "VIDEO_MAX_HEIGHT", 4320),
        hls_segment_seconds=_int(env, "VIDEO_HLS_SEGMENT_SECONDS", 6, maximum=60),
        stall_seconds=_int(env, "VIDEO_STALL_SECONDS", 120),
        reenqueue_after_seconds=_int(env, "VIDEO_REENQUEUE_AFTER_SECONDS", 600),
        work_dir=env.str("VIDEO_WORK_DIR", default="").strip(),
        log_level=env.str("LOG_LEVEL", default="INFO").strip().upper() or "INFO",
    )
