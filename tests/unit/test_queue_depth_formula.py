"""The queue-depth Lambda's desired-worker formula and its configuration, without AWS."""

from __future__ import annotations

import json

import pytest

from tests.aws_helpers import load_queue_depth_handler, use_fake_aws

handler = load_queue_depth_handler()


@pytest.mark.parametrize(
    ("visible", "inflight", "heartbeats", "fast_ack", "target", "lo", "hi", "raw", "desired"),
    [
        pytest.param(0, 0, None, False, 1, 0, 10, 0, 0, id="idle-fleet-may-reach-zero"),
        pytest.param(0, 0, None, False, 1, 1, 10, 0, 1, id="idle-keeps-min-workers"),
        pytest.param(3, 2, None, False, 1, 1, 10, 5, 5, id="waiting-plus-busy"),
        pytest.param(5, 0, None, False, 2, 1, 10, 3, 3, id="target-rounds-up"),
        pytest.param(4, 0, None, False, 2, 1, 10, 2, 2, id="target-exact"),
        pytest.param(7, 3, None, False, 2.5, 1, 10, 4, 4, id="fractional-target"),
        pytest.param(100, 5, None, False, 1, 1, 10, 105, 10, id="clamped-to-max"),
        pytest.param(1, 0, None, False, 4, 3, 10, 1, 3, id="clamped-to-min"),
        # Fast ack: the message is gone while ffmpeg runs, heartbeats count the busy workers.
        pytest.param(1, 0, 4, True, 1, 0, 10, 5, 5, id="fast-ack-busy-from-heartbeats"),
        pytest.param(0, 0, 3, True, 1, 0, 10, 3, 3, id="fast-ack-no-scale-in-of-busy"),
        pytest.param(0, 6, 2, True, 1, 0, 10, 6, 6, id="fast-ack-lagging-heartbeats"),
        pytest.param(2, 0, None, True, 1, 0, 10, 2, 2, id="fast-ack-unknown-heartbeats"),
        # Without fast ack in-flight is exact; heartbeats (possibly stale) are ignored.
        pytest.param(0, 2, 9, False, 1, 0, 10, 2, 2, id="heartbeats-ignored-without-fast-ack"),
    ],
)
def test_desired_workers(visible, inflight, heartbeats, fast_ack, target, lo, hi, raw, desired):
    got = handler.desired_workers(visible, inflight, heartbeats, fast_ack, target, lo, hi)
    assert got == (raw, desired)


def test_defaults():
    settings = handler.load_settings({})
    assert settings.queue_name == "academy-video-jobs"
    assert settings.namespace == "Academy/Video"
    assert (settings.min_workers, settings.max_workers) == (1, 20)
    assert settings.target_backlog_per_worker == 1
    assert settings.fast_ack is False
    assert settings.dimensions == ()


def test_dimensions_are_parsed_in_order():
    settings = handler.load_settings({"METRIC_DIMENSIONS": " Service=video-worker , Env=prod "})
    assert settings.dimensions == (("Service", "video-worker"), ("Env", "prod"))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"VIDEO_TARGET_BACKLOG_PER_WORKER": "abc"}, "VIDEO_TARGET_BACKLOG_PER_WORKER"),
        ({"VIDEO_TARGET_BACKLOG_PER_WORKER": "0"}, "VIDEO_TARGET_BACKLOG_PER_WORKER"),
        ({"VIDEO_TARGET_BACKLOG_PER_WORKER": "nan"}, "VIDEO_TARGET_BACKLOG_PER_WORKER"),
        ({"VIDEO_MIN_WORKERS": "-1"}, "VIDEO_MIN_WORKERS"),
        ({"VIDEO_MAX_WORKERS": "ten"}, "VIDEO_MAX_WORKERS"),
        ({"VIDEO_MIN_WORKERS": "5", "VIDEO_MAX_WORKERS": "2"}, "VIDEO_MAX_WORKERS"),
        ({"VIDEO_FAST_ACK": "maybe"}, "VIDEO_FAST_ACK"),
        ({"VIDEO_FAST_ACK": "1"}, "REDIS_URL"),
        ({"VIDEO_FAST_ACK": "1", "REDIS_URL": "http://cache:6379"}, "REDIS_URL"),
        ({"METRIC_DIMENSIONS": "Service"}, "METRIC_DIMENSIONS"),
        ({"METRIC_DIMENSIONS": "=prod"}, "METRIC_DIMENSIONS"),
    ],
)
def test_invalid_settings_give_a_clear_error(env, named, monkeypatch, capsys):
    use_fake_aws(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = handler.lambda_handler({}, None)

    assert result["ok"] is False
    assert result["error_code"] == "INVALID_CONFIG"
    assert named in result["error"]
    assert result["published"] == []
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    logged = json.loads(lines[0])
    assert logged["event"] == "QUEUE_DEPTH_METRIC_FAILED"
    assert logged["error"] == result["error"]


def test_the_lambda_counts_exactly_the_heartbeat_keys_the_worker_writes():
    """The Lambda ships alone and keeps its own copy of the heartbeat key format: tied here to
    the one the worker writes (src/infrastructure/cache/redis_keys.py)."""
    from fnmatch import fnmatchcase

    from src.infrastructure.cache.redis_keys import heartbeat_key, progress_key

    assert handler.HEARTBEAT_PATTERN == heartbeat_key("*", "*")
    # Redis SCAN MATCH is a glob: it finds every heartbeat and nothing else of a video's.
    assert fnmatchcase(heartbeat_key(7, 1234), handler.HEARTBEAT_PATTERN)
    assert not fnmatchcase(progress_key(7, 1234), handler.HEARTBEAT_PATTERN)
