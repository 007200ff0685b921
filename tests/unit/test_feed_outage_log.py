"""channels-redis's tracebacks during a Redis outage become one warning line per interval."""

from __future__ import annotations

import logging
import sys

import redis

from src.infrastructure.logging import FEED_OUTAGE_LOG_INTERVAL_SECONDS, FeedOutageFilter


def _record(name: str, exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, "Unexpected exception", (), info)


def test_outage_tracebacks_become_one_warning_per_interval():
    now = [100.0]
    log_filter = FeedOutageFilter(clock=lambda: now[0])
    down = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")
    first = _record("channels_redis.pubsub", down)
    assert log_filter.filter(first)
    assert (first.levelname, first.getMessage(), first.exc_info) == (
        "WARNING",
        "LIVE_FEED_REDIS_UNAVAILABLE",
        None,
    )
    assert not log_filter.filter(_record("channels_redis.pubsub", down)), "quiet meanwhile"
    now[0] += FEED_OUTAGE_LOG_INTERVAL_SECONDS
    assert log_filter.filter(_record("channels_redis.pubsub", down)), "then once again"


def test_other_errors_and_other_loggers_pass_untouched():
    log_filter = FeedOutageFilter(clock=lambda: 0.0)
    bug = _record("channels_redis.pubsub", KeyError("group"))
    assert log_filter.filter(bug) and bug.exc_info is not None and bug.levelname == "ERROR"
    ours = _record("apps.api", redis.ConnectionError("down"))
    assert log_filter.filter(ours) and ours.exc_info is not None
