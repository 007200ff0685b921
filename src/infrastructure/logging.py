"""structlog set up once: JSON lines on stdout with worker_id and the bound context fields."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from src.application.domain.redaction import redact_value

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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("django", "apps", "src", "academy"):
        logging.getLogger(name).setLevel(level)


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger().bind(**context)
