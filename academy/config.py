"""Every environment variable the project reads, parsed and validated in one place."""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import environ
from cryptography.hazmat.primitives import serialization

from src.application.domain import PlaybackPolicy
from src.infrastructure.media.ladder import AUDIO_KBPS, DEFAULT_LADDER, Rung, parse_ladder

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


class ConfigError(Exception):
    """An invalid or missing setting; the message names the variable."""


# Upper bounds: each far above any sane value, low enough that arithmetic on it (a lease's
# expiry, a reconcile cut-off, a timeout) stays inside what datetimes and the OS accept.
HOUR = 3600
DAY = 24 * HOUR
# SQS keeps a message hidden for at most 12 hours; a longer lease or timeout means nothing.
SQS_MAX_SECONDS = 12 * HOUR
# S3's largest object; a bigger source limit cannot be stored anyway.
MAX_SOURCE_BYTES_LIMIT = 5 * 1024**4
# H.264's largest level (6.2) stops at 8192x4320; twice that covers every camera.
MAX_FRAME_SIDE = 16384
# Video.leased_by's max_length: a longer id fails the claim's UPDATE on PostgreSQL.
WORKER_ID_MAX_LENGTH = 128
# A lease survives one failed renewal (a database blip) only if it spans two intervals.
RENEWALS_PER_LEASE = 2
# Per-key request rates above this are no limit at all: say 0 instead.
MAX_API_RATE = 100_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# SQS's own rule for queue names.
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]+(\.fifo)?")
QUEUE_NAME_MAX_LENGTH = 80
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d{1,2}")
_WORKER_ID = re.compile(r"[!-~]+")  # printable ASCII, no spaces: it is a log field and a key
# A Channels group name's characters; Redis pub/sub ignores database numbers, so deployments
# (or test runs) sharing one Redis keep their live events apart by this prefix.
_CHANNEL_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,40}")


@dataclass(frozen=True)
class WebhookConfig:
    allow_insecure: bool  # http:// endpoints (local development only)
    allow_private: bool  # loopback, private and link-local destinations (tests, local dev)
    timeout_seconds: int  # one attempt: connect and answer
    concurrency: int  # attempts one dispatcher has in flight
    retention_days: int  # finished deliveries (and their events) are pruned after this
    api_base_url: str  # payload asset URLs when VIDEO_PUBLIC_BASE_URL is unset: <this>/media/…


@dataclass(frozen=True)
class CaptionsConfig:
    enabled: bool  # VIDEO_CAPTIONS=auto: every READY video gets an automatic track
    model: str  # a faster-whisper model directory, or the bundled "tiny.en"
    language: str  # "" = detect
    queue_url: str  # the caption jobs' own queue
    queue_name: str
    max_upload_bytes: int  # an uploaded SRT/WebVTT file


@dataclass(frozen=True)
class PlaybackConfig:
    """Who may watch (apps/api/playback/, docs/ARCHITECTURE.md "Playback")."""

    default_policy: PlaybackPolicy = PlaybackPolicy.SIGNED  # a new video's, unless given
    token_ttl_seconds: int = 3600  # the web page's tokens and the API's default
    # CloudFront signed URLs for segments when VIDEO_PUBLIC_BASE_URL is a distribution.
    cloudfront_key_pair_id: str = ""
    cloudfront_private_key: str = field(default="", repr=False)


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
    work_dir_min_free_bytes: int
    log_level: str
    api_key_pepper: str
    api_cors_origins: tuple[str, ...]
    upload_ttl_seconds: int
    upload_part_bytes: int
    public_base_url: str
    allowed_hosts: tuple[str, ...]
    progress_token_ttl_seconds: int
    progress_poll_seconds: int
    live_channel_prefix: str
    webhooks: WebhookConfig
    video_ladder: tuple[Rung, ...] = DEFAULT_LADDER
    video_audio_kbps: int = AUDIO_KBPS
    trace_url_template: str = ""
    # The worker's Prometheus exporter (/metrics); None: off.
    worker_metrics_port: int | None = None
    # Per API key: tokens added per second (0 turns limiting off) and the bucket's size.
    api_rate_per_second: float = 10.0
    api_rate_burst: int = 60
    # Cleanup removes the source of a READY video this many days after it completed; None: never.
    source_retention_days: int | None = None
    captions: CaptionsConfig = None  # type: ignore[assignment]  # set by load_config
    # The file a looping process keeps fresh for the image's HEALTHCHECK; "": none.
    liveness_file: str = ""
    playback: PlaybackConfig = field(default_factory=PlaybackConfig)

    @property
    def heartbeat_interval(self) -> float:
        return heartbeat_interval(self.heartbeat_ttl)

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
            "worker_metrics_port": self.worker_metrics_port,
            "lease_seconds": self.lease_seconds,
            "heartbeat_ttl": self.heartbeat_ttl,
            "max_attempts": self.max_attempts,
            "visibility_timeout": self.visibility_timeout,
            "shutdown_grace_seconds": self.shutdown_grace_seconds,
            "work_dir": self.work_dir,
            "work_dir_min_free_bytes": self.work_dir_min_free_bytes,
        }


def _int(
    env: environ.Env, name: str, default: int, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw[:40]!r}") from None
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
    raise ConfigError(f"{name} must be 0 or 1, got {raw[:40]!r}")


def _writable_dir(name: str, path: Path) -> None:
    """`path` is, or can be created as, a folder this process can write in."""
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: mkdir would fail on it
            raise ConfigError(f"{name} {str(path)!r} cannot be created: {probe} is a broken link")
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{name} {str(path)!r} cannot be a folder: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "is not writable" if probe == path else f"cannot be created in {probe}"
        raise ConfigError(f"{name} {str(path)!r} {what}")


def _database(env: environ.Env, debug: bool) -> dict[str, Any]:
    raw = env.str("DATABASE_URL", default="").strip()
    if not raw:
        if not debug:
            raise ConfigError("DATABASE_URL is required when DJANGO_DEBUG=0")
        raw = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql", "psql"}:
        raise ConfigError(
            f"DATABASE_URL must start with sqlite:// or postgres://, got scheme {scheme[:20]!r}"
        )
    if scheme == "sqlite" and not raw.startswith("sqlite:////"):
        # A relative file depends on each process's cwd, one in memory is private to it.
        raise ConfigError("DATABASE_URL must name an absolute file: sqlite:////abs/path")
    try:
        db = environ.Env.db_url_config(raw)
    except Exception as exc:  # noqa: BLE001 - any parse error becomes a config error
        raise ConfigError(f"DATABASE_URL cannot be parsed: {type(exc).__name__}") from None
    if "sqlite" in db["ENGINE"]:
        _writable_dir("DATABASE_URL's folder", Path(db["NAME"]).parent)
        # Concurrent workers on SQLite wait for the write lock instead of failing at once.
        db.setdefault("OPTIONS", {})["timeout"] = 30
    else:
        if not db.get("NAME"):
            raise ConfigError("DATABASE_URL must name a database: postgres://user@host:5432/NAME")
        # Workers keep one connection per thread; a broken one is noticed and replaced
        # (DjangoVideoRepository checks it before each call) instead of failing forever.
        db["CONN_MAX_AGE"] = 60
        db["CONN_HEALTH_CHECKS"] = True
        db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    return db


def _url(env: environ.Env, name: str, default: str, schemes: set[str]) -> str:
    raw = env.str(name, default=default).strip()
    if not raw:
        return raw
    parsed = urlparse(raw)
    if parsed.scheme not in schemes:
        allowed = ", ".join(sorted(f"{s}://" for s in schemes))
        raise ConfigError(f"{name} must be a URL starting with {allowed}")
    if parsed.scheme in {"http", "https", "redis", "rediss"}:
        try:
            parsed.port  # noqa: B018 - raises ValueError for a port that is no number
        except ValueError:
            raise ConfigError(f"{name} has an invalid port (a number 1-65535)") from None
        if not parsed.hostname:
            raise ConfigError(f"{name} must name a host: {parsed.scheme}://HOST…")
    return raw


def _trace_url_template(env: environ.Env) -> str:
    """The log search an operator follows from a video in the admin: `{trace_id}` in it."""
    raw = _url(env, "VIDEO_TRACE_URL_TEMPLATE", "", {"http", "https"})
    if raw and "{trace_id}" not in raw:
        raise ConfigError("VIDEO_TRACE_URL_TEMPLATE must contain {trace_id}")
    return raw


def _redis_url(env: environ.Env) -> str:
    url = _url(env, "REDIS_URL", "redis://127.0.0.1:6379/0", {"redis", "rediss", "unix"})
    parsed = urlparse(url)
    # redis-py silently ignores a path it cannot read as a number and uses database 0.
    path_db = parsed.path.strip("/") if parsed.scheme != "unix" else ""
    for value in ([path_db] if path_db else []) + parse_qs(parsed.query).get("db", []):
        if not value.isdigit():
            raise ConfigError(
                f"REDIS_URL's database must be a number (redis://host:6379/0), got {value[:20]!r}"
            )
    if parsed.scheme == "unix" and not parsed.path.startswith("/"):
        raise ConfigError("REDIS_URL must name a socket file: unix:///abs/path.sock")
    return url


def _storage_url(env: environ.Env) -> str:
    url = _url(env, "VIDEO_STORAGE_URL", f"file://{VAR_DIR / 'media'}", {"file", "s3"})
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise ConfigError("VIDEO_STORAGE_URL must be file:///absolute/path (three slashes)")
        _writable_dir("VIDEO_STORAGE_URL", Path(unquote(parsed.path)))
    elif not parsed.netloc:
        raise ConfigError("VIDEO_STORAGE_URL must be s3://bucket/prefix")
    return url


def _work_dir(env: environ.Env) -> str:
    raw = env.str("VIDEO_WORK_DIR", default="").strip()
    path = Path(raw) if raw else Path(tempfile.gettempdir()) / "academy-video-jobs"
    if not path.is_absolute():
        raise ConfigError(f"VIDEO_WORK_DIR must be an absolute path, got {raw[:200]!r}")
    _writable_dir("VIDEO_WORK_DIR", path)
    return str(path)


def _queue_name(env: environ.Env) -> str:
    name = env.str("VIDEO_SQS_QUEUE_NAME", default="").strip() or "academy-video-jobs"
    if len(name) > QUEUE_NAME_MAX_LENGTH or not _QUEUE_NAME.fullmatch(name):
        raise ConfigError(
            "VIDEO_SQS_QUEUE_NAME must be 1-80 letters, digits, '-' or '_' "
            f"(optionally ending .fifo), got {name[:100]!r}"
        )
    return name


def _region(env: environ.Env) -> str:
    region = env.str("AWS_DEFAULT_REGION", default="").strip() or "us-east-1"
    if not _REGION.fullmatch(region):
        raise ConfigError(
            f"AWS_DEFAULT_REGION must be a region such as us-east-1, got {region[:40]!r}"
        )
    return region


def _worker_id(env: environ.Env) -> str:
    raw = env.str("WORKER_ID", default="").strip()
    if not raw:
        host = socket.gethostname()[: WORKER_ID_MAX_LENGTH - 12] or "worker"
        return f"{host}-{os.getpid()}"
    if len(raw) > WORKER_ID_MAX_LENGTH:
        raise ConfigError(
            f"WORKER_ID must be at most {WORKER_ID_MAX_LENGTH} characters, got {len(raw)}"
        )
    if not _WORKER_ID.fullmatch(raw):
        raise ConfigError("WORKER_ID must be printable ASCII without spaces")
    return raw


def _log_level(env: environ.Env) -> str:
    level = env.str("LOG_LEVEL", default="").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level[:20]!r}")
    return level


def _check_lease(lease: int, ttl: int) -> None:
    renew_every = heartbeat_interval(ttl)
    if lease < RENEWALS_PER_LEASE * renew_every:
        raise ConfigError(
            f"VIDEO_LEASE_SECONDS ({lease}) must be at least {RENEWALS_PER_LEASE} renewal "
            f"intervals: the lease is renewed every VIDEO_HEARTBEAT_TTL/3 = {renew_every:g} s, "
            "so a shorter lease expires under a healthy job"
        )


def heartbeat_interval(ttl: float) -> float:
    """Refresh period of heartbeat and lease: a third of the TTL, as the contract says."""
    return max(ttl / 3.0, 0.2)


_HOST = re.compile(r"^(\*|\.?[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:]+\])$")


def _origins(env: environ.Env, name: str) -> tuple[str, ...]:
    """A comma-separated list of scheme://host[:port] origins (no path), as browsers send them."""
    origins = []
    for raw in env.str(name, default="").split(","):
        origin = raw.strip().rstrip("/")
        if not origin:
            continue
        parsed = urlparse(origin)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc or parsed.path:
            raise ConfigError(f"{name} must list origins like https://app.example.com, got {raw!r}")
        origins.append(origin)
    return tuple(origins)


def _hosts(env: environ.Env, debug: bool) -> tuple[str, ...]:
    """Host names the API answers for (Django's ALLOWED_HOSTS); any host in development."""
    hosts = tuple(h.strip() for h in env.str("DJANGO_ALLOWED_HOSTS", default="").split(","))
    hosts = tuple(h for h in hosts if h)
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise ConfigError(
                f"DJANGO_ALLOWED_HOSTS must list host names like api.example.com, got {host!r}"
            )
    if hosts:
        return hosts
    return ("*",) if debug else ("localhost", "127.0.0.1")


def _pepper(env: environ.Env, debug: bool) -> str:
    pepper = env.str("API_KEY_PEPPER", default="").strip()
    if not pepper:
        if not debug:
            raise ConfigError("API_KEY_PEPPER is required when DJANGO_DEBUG=0")
        pepper = "insecure-local-development-pepper"
    elif len(pepper) < 16:
        raise ConfigError("API_KEY_PEPPER must be at least 16 characters")
    return pepper


def _channel_prefix(env: environ.Env) -> str:
    prefix = env.str("VIDEO_LIVE_CHANNEL_PREFIX", default="").strip() or "academy-video"
    if not _CHANNEL_PREFIX.fullmatch(prefix):
        raise ConfigError(
            "VIDEO_LIVE_CHANNEL_PREFIX must be 1-40 letters, digits, '.', '_' or '-', "
            f"got {prefix[:60]!r}"
        )
    return prefix


def _webhooks(env: environ.Env) -> WebhookConfig:
    return WebhookConfig(
        allow_insecure=_bool(env, "VIDEO_WEBHOOK_ALLOW_INSECURE", False),
        allow_private=_bool(env, "VIDEO_WEBHOOK_ALLOW_PRIVATE", False),
        # A receiver should answer at once and work later; 30 s is Standard Webhooks' own cap.
        timeout_seconds=_int(env, "VIDEO_WEBHOOK_TIMEOUT_SECONDS", 10, maximum=30),
        concurrency=_int(env, "VIDEO_WEBHOOK_CONCURRENCY", 8, maximum=64),
        # Past the ~3.4-day retry schedule, long enough to read a delivery log back.
        retention_days=_int(env, "VIDEO_WEBHOOK_RETENTION_DAYS", 30, minimum=4, maximum=3650),
        api_base_url=_url(
            env, "VIDEO_API_BASE_URL", "http://127.0.0.1:8000", {"http", "https"}
        ).rstrip("/"),
    )


def _rate(env: environ.Env, name: str, default: float) -> float:
    raw = env.str(name, default=str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw[:40]!r}") from None
    if not 0 <= value <= MAX_API_RATE:  # also refuses nan and inf
        raise ConfigError(
            f"{name} must be between 0 and {MAX_API_RATE:g} (0: no limit), got {raw[:40]!r}"
        )
    return value


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
    lease = _int(env, "VIDEO_LEASE_SECONDS", 120, maximum=DAY)
    ttl = _int(env, "VIDEO_HEARTBEAT_TTL", 60, maximum=HOUR)
    _check_lease(lease, ttl)
    return AppConfig(
        debug=debug,
        secret_key=secret,
        database=_database(env, debug),
        redis_url=_redis_url(env),
        sqs_queue_url=_url(env, "VIDEO_SQS_QUEUE_URL", "", {"http", "https"}),
        sqs_queue_name=_queue_name(env),
        aws_endpoint_url=_url(env, "AWS_ENDPOINT_URL", "", {"http", "https"}),
        aws_region=_region(env),
        storage_url=_storage_url(env),
        fast_ack=_bool(env, "VIDEO_FAST_ACK", False),
        lease_seconds=lease,
        heartbeat_ttl=ttl,
        max_attempts=_int(env, "VIDEO_MAX_ATTEMPTS", 3, maximum=100),
        visibility_timeout=_int(
            env, "VIDEO_VISIBILITY_TIMEOUT", 300, minimum=2, maximum=SQS_MAX_SECONDS
        ),
        shutdown_grace_seconds=_int(
            env, "VIDEO_SHUTDOWN_GRACE_SECONDS", 25, minimum=0, maximum=HOUR
        ),
        worker_id=_worker_id(env),
        max_duration_seconds=_int(env, "VIDEO_MAX_DURATION_SECONDS", 4 * HOUR, maximum=DAY),
        max_source_bytes=_int(
            env, "VIDEO_MAX_SOURCE_BYTES", 10 * 1024**3, maximum=MAX_SOURCE_BYTES_LIMIT
        ),
        max_width=_int(env, "VIDEO_MAX_WIDTH", 7680, minimum=2, maximum=MAX_FRAME_SIDE),
        max_height=_int(env, "VIDEO_MAX_HEIGHT", 4320, minimum=2, maximum=MAX_FRAME_SIDE),
        hls_segment_seconds=_int(env, "VIDEO_HLS_SEGMENT_SECONDS", 6, maximum=60),
        stall_seconds=_int(env, "VIDEO_STALL_SECONDS", 120, maximum=DAY),
        reenqueue_after_seconds=_int(env, "VIDEO_REENQUEUE_AFTER_SECONDS", 600, maximum=7 * DAY),
        work_dir=_work_dir(env),
        work_dir_min_free_bytes=_int(
            env, "VIDEO_WORK_DIR_MIN_FREE_BYTES", 256 * 1024**2, minimum=0, maximum=1024**4
        ),
        log_level=_log_level(env),
        api_key_pepper=_pepper(env, debug),
        api_cors_origins=_origins(env, "VIDEO_API_CORS_ORIGINS"),
        # A direct upload not completed within this time is expired by reconcile's loop.
        upload_ttl_seconds=_int(env, "VIDEO_UPLOAD_TTL_SECONDS", DAY, minimum=60, maximum=7 * DAY),
        # S3 multipart: parts of this size (S3's minimum is 5 MiB, its maximum 10 000 parts).
        upload_part_bytes=_int(
            env, "VIDEO_UPLOAD_PART_BYTES", 64 * 1024**2, minimum=5 * 1024**2, maximum=5 * 1024**3
        ),
        public_base_url=_url(env, "VIDEO_PUBLIC_BASE_URL", "", {"http", "https"}).rstrip("/"),
        allowed_hosts=_hosts(env, debug),
        webhooks=_webhooks(env),
        video_ladder=_ladder(env),
        video_audio_kbps=_int(env, "VIDEO_AUDIO_KBPS", AUDIO_KBPS, minimum=32, maximum=320),
        # A progress_token only opens a stream (checked at connect): minutes are enough for a
        # page to connect and reconnect; a day at most, so a leaked token dies soon.
        progress_token_ttl_seconds=_int(
            env, "VIDEO_PROGRESS_TOKEN_TTL_SECONDS", 15 * 60, minimum=10, maximum=DAY
        ),
        # How often a live stream reads the row while Redis is down (and the idle re-check).
        progress_poll_seconds=_int(env, "VIDEO_PROGRESS_POLL_SECONDS", 5, maximum=60),
        live_channel_prefix=_channel_prefix(env),
        trace_url_template=_trace_url_template(env),
        worker_metrics_port=_optional_port(env, "WORKER_METRICS_PORT"),
        api_rate_per_second=_rate(env, "VIDEO_API_RATE_PER_SECOND", 10),
        api_rate_burst=_int(env, "VIDEO_API_RATE_BURST", 60, maximum=MAX_API_RATE),
        source_retention_days=_optional_days(env, "VIDEO_SOURCE_RETENTION_DAYS"),
        liveness_file=env.str("LIVENESS_FILE", default="").strip(),
        playback=_playback(env),
        captions=_captions(env),
    )


_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _captions(env: environ.Env) -> CaptionsConfig:
    mode = env.str("VIDEO_CAPTIONS", default="auto").strip().lower() or "auto"
    if mode not in ("auto", "off"):
        raise ConfigError(f"VIDEO_CAPTIONS must be auto or off, got {mode[:40]!r}")
    language = env.str("VIDEO_CAPTIONS_LANGUAGE", default="detect").strip() or "detect"
    if language != "detect" and not (len(language) <= 16 and _LANGUAGE.fullmatch(language)):
        raise ConfigError(
            f"VIDEO_CAPTIONS_LANGUAGE must be a language code (en, pt-BR) or detect, "
            f"got {language[:40]!r}"
        )
    name = env.str("VIDEO_CAPTIONS_QUEUE_NAME", default="").strip() or "academy-caption-jobs"
    if len(name) > QUEUE_NAME_MAX_LENGTH or not _QUEUE_NAME.fullmatch(name):
        raise ConfigError(f"VIDEO_CAPTIONS_QUEUE_NAME is not a queue name, got {name[:100]!r}")
    return CaptionsConfig(
        enabled=mode == "auto",
        model=env.str("VIDEO_CAPTIONS_MODEL", default="").strip() or "tiny.en",
        language="" if language == "detect" else language,
        queue_url=_url(env, "VIDEO_CAPTIONS_QUEUE_URL", "", {"http", "https"}),
        queue_name=name,
        # An hour of dense captions is about 100 KB; 2 MB leaves room and bounds the parse.
        max_upload_bytes=_int(
            env, "VIDEO_CAPTIONS_MAX_UPLOAD_BYTES", 2 * 1024**2, minimum=1024, maximum=50 * 1024**2
        ),
    )


# A playback token outliving a week is a leaked URL that works for a week: mint a new one.
MAX_PLAYBACK_TOKEN_SECONDS = 7 * DAY


def _playback(env: environ.Env) -> PlaybackConfig:
    raw = env.str("VIDEO_DEFAULT_PLAYBACK_POLICY", default="signed").strip().lower()
    if raw not in {p.value for p in PlaybackPolicy}:
        raise ConfigError(
            f"VIDEO_DEFAULT_PLAYBACK_POLICY must be signed or public, got {raw[:20]!r}"
        )
    key_pair_id = env.str("VIDEO_CLOUDFRONT_KEY_PAIR_ID", default="").strip()
    private_key = env.str("VIDEO_CLOUDFRONT_PRIVATE_KEY", default="").strip()
    key_file = env.str("VIDEO_CLOUDFRONT_PRIVATE_KEY_FILE", default="").strip()
    if key_file and not private_key:
        try:
            private_key = Path(key_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"VIDEO_CLOUDFRONT_PRIVATE_KEY_FILE cannot be read: {exc.strerror}"
            ) from None
    if bool(key_pair_id) != bool(private_key):
        raise ConfigError(
            "VIDEO_CLOUDFRONT_KEY_PAIR_ID and VIDEO_CLOUDFRONT_PRIVATE_KEY (or _FILE) go together"
        )
    if private_key:
        try:
            serialization.load_pem_private_key(private_key.encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigError(
                "VIDEO_CLOUDFRONT_PRIVATE_KEY is not an unencrypted PEM key"
            ) from None
    return PlaybackConfig(
        default_policy=PlaybackPolicy(raw),
        token_ttl_seconds=_int(
            env,
            "VIDEO_PLAYBACK_TOKEN_TTL_SECONDS",
            3600,
            minimum=30,
            maximum=MAX_PLAYBACK_TOKEN_SECONDS,
        ),
        cloudfront_key_pair_id=key_pair_id,
        cloudfront_private_key=private_key,
    )


def _optional_days(env: environ.Env, name: str) -> int | None:
    """A number of days (1 to 3650), or None when the variable is unset, empty or 0 (off)."""
    if not env.str(name, default="").strip():
        return None
    return _int(env, name, 0, minimum=0, maximum=3650) or None


def _optional_port(env: environ.Env, name: str) -> int | None:
    """A TCP port to listen on, or None when the variable is unset or empty."""
    if not env.str(name, default="").strip():
        return None
    return _int(env, name, 0, minimum=1, maximum=65535)


def _ladder(env: environ.Env) -> tuple[Rung, ...]:
    raw = env.str("VIDEO_LADDER", default="").strip()
    if not raw:
        return DEFAULT_LADDER
    try:
        return parse_ladder(raw)
    except ValueError as exc:
        raise ConfigError(f"VIDEO_LADDER: {exc}") from None
