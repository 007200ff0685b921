"""structlog set up once: JSON lines on stdout with worker_id and the bound context fields."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import redis
import structlog

from src.application.domain.redaction import redact_url_credentials, redact_value
from src.infrastructure.metrics import observe_log_event

_STATIC: dict[str, Any] = {}
_CONFIGURED = False


def _add_static_fields(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in _STATIC.items():
        event_dict.setdefault(key, value)
    return event_dict


def redact_credentials(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Every field, the rendered traceback included, without URL credentials."""
    return redact_value(event_dict)


def set_worker_id(worker_id: str) -> None:
    """Every line from now on carries this worker id (threads included)."""
    _STATIC["worker_id"] = worker_id


# channels-redis's receive loop logs a full traceback every second while Redis is down. For the
# live streams that is an expected outage (they say so and poll the row): one warning line
# without the traceback this often instead. Its other errors pass untouched.
FEED_OUTAGE_LOG_INTERVAL_SECONDS = 30.0


class FeedOutageFilter(logging.Filter):
    def __init__(self, clock=time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._quiet_until = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("channels_redis") or not record.exc_info:
            return True
        if not isinstance(record.exc_info[1], redis.ConnectionError | OSError | TimeoutError):
            return True
        if self.clock() < self._quiet_until:
            return False
        self._quiet_until = self.clock() + FEED_OUTAGE_LOG_INTERVAL_SECONDS
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = "LIVE_FEED_REDIS_UNAVAILABLE", ()
        record.exc_info, record.exc_text = None, None
        return True


class RedactingFilter(logging.Filter):
    """Records of libraries that format their own lines (uvicorn's "WebSocket /ws/…?token=…
    [accepted]", its access log) lose credentials before any handler writes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_credentials(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


# uvicorn installs its own handlers on these loggers (they do not propagate to ours): the
# filter goes on the loggers themselves, where every record of theirs starts.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "daphne", "django.server")


def redact_server_logs() -> None:
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def configure_logging(level: str = "INFO", worker_id: str | None = None) -> None:
    global _CONFIGURED
    if worker_id:
        set_worker_id(worker_id)
    if _CONFIGURED:
        return
    _CONFIGURED = True
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_static_fields,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_credentials,
            observe_log_event,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_credentials,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    handler.addFilter(FeedOutageFilter())
    handler.addFilter(RedactingFilter())
    redact_server_logs()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("django", "apps", "src", "academy"):
        logging.getLogger(name).setLevel(level)


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger().bind(**context)
