"""Queue-depth Lambda: publishes the video queue's depth and a desired worker count to CloudWatch.

Runs every minute (EventBridge). Deployable as a plain zip holding this one file: standard
library and the runtime's boto3; `redis` only when VIDEO_FAST_ACK=1 (bundle it in the zip).

Formula (the scaling policy follows `video_desired`)::

    busy              = inflight                          if VIDEO_FAST_ACK=0
                      = max(inflight, live heartbeats)    if VIDEO_FAST_ACK=1
    video_desired_raw = ceil((visible + busy) / VIDEO_TARGET_BACKLOG_PER_WORKER)
    video_desired     = clamp(video_desired_raw, VIDEO_MIN_WORKERS, VIDEO_MAX_WORKERS)

Why: a worker transcodes one video at a time, so the work to cover is what waits (`visible`)
plus what is being transcoded (`busy`). Counting only `visible` would let scale-in stop workers
in the middle of a transcode. With VIDEO_FAST_ACK=0 a running job keeps its message in flight,
so `inflight` is the busy count. With VIDEO_FAST_ACK=1 the message is deleted on receipt and
`inflight` drops to zero while ffmpeg still runs; each running job keeps a Redis heartbeat key
(`tenant:*:video:*:heartbeat`, TTL 60 s), so live heartbeats are the busy count. Delayed
messages are left out: they are retries in backoff, not work a new worker could start now.

When the busy count cannot be known (fast-ack and Redis unreachable), the queue metrics are
still published but `video_desired` is not: a target-tracking policy with no data takes no
action, which is safer than a scale-in computed as if no worker were busy.

Every invocation prints exactly one JSON line and returns a dict; failures come back as
`{"ok": false, "error": "...", "error_code": "...", "retryable": ...}`, never as a bare crash.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

try:  # only needed in fast-ack mode; the Lambda runtime does not ship it
    import redis
except ImportError:  # pragma: no cover - depends on how the zip was built
    redis = None

DEFAULT_QUEUE_NAME = "academy-video-jobs"
DEFAULT_NAMESPACE = "Academy/Video"
HEARTBEAT_PATTERN = "tenant:*:video:*:heartbeat"
# One SCAN round trip per this many keys: large enough to be few calls, small enough not to
# block Redis noticeably.
SCAN_COUNT = 1000
# The Lambda runs every minute; a call slower than this is better abandoned than overlapped.
AWS_CONFIG = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"})
REDIS_TIMEOUT_SECONDS = 3

QUEUE_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
MISSING_QUEUE_CODES = {"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"}
THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "AWS.SimpleQueueService.RequestThrottled",
}


class MetricError(Exception):
    """A failure with a stable code for the log line and whether the next run may succeed."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class Settings:
    queue_url: str
    queue_name: str
    dlq_url: str
    dlq_name: str
    target_backlog_per_worker: float
    min_workers: int
    max_workers: int
    fast_ack: bool
    redis_url: str
    namespace: str
    dimensions: tuple[tuple[str, str], ...]


def desired_workers(
    visible: int,
    inflight: int,
    heartbeats: int | None,
    fast_ack: bool,
    target: float,
    min_workers: int,
    max_workers: int,
) -> tuple[int, int]:
    """Return (video_desired_raw, video_desired) for the formula in the module docstring."""
    busy = max(inflight, heartbeats or 0) if fast_ack else inflight
    raw = math.ceil((visible + busy) / target)
    return raw, min(max(raw, min_workers), max_workers)


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise MetricError("INVALID_CONFIG", f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise MetricError("INVALID_CONFIG", f"{name} must be at least {minimum}, got {value}")
    return value


def _env_positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise MetricError("INVALID_CONFIG", f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise MetricError("INVALID_CONFIG", f"{name} must be a number above 0, got {raw!r}")
    return value


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise MetricError("INVALID_CONFIG", f"{name} must be 0 or 1, got {raw!r}")


def _dimensions(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not name or not value:
            raise MetricError(
                "INVALID_CONFIG",
                f"METRIC_DIMENSIONS must look like Name=Value,Name=Value, got {item!r}",
            )
        pairs.append((name, value))
    if len(pairs) > 30:  # CloudWatch's limit per metric
        raise MetricError("INVALID_CONFIG", "METRIC_DIMENSIONS allows at most 30 dimensions")
    return tuple(pairs)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse the environment; raises MetricError(INVALID_CONFIG) naming the bad variable."""
    min_workers = _env_int(env, "VIDEO_MIN_WORKERS", 1, minimum=0)
    max_workers = _env_int(env, "VIDEO_MAX_WORKERS", 20, minimum=1)
    if max_workers < min_workers:
        raise MetricError(
            "INVALID_CONFIG",
            f"VIDEO_MAX_WORKERS ({max_workers}) is below VIDEO_MIN_WORKERS ({min_workers})",
        )
    fast_ack = _env_bool(env, "VIDEO_FAST_ACK")
    redis_url = env.get("REDIS_URL", "").strip()
    if fast_ack and not redis_url:
        raise MetricError(
            "INVALID_CONFIG",
            "VIDEO_FAST_ACK=1 needs REDIS_URL: in-flight counts drop to zero while jobs run, "
            "so busy workers can only be counted from their heartbeats",
        )
    if redis_url and redis_url.split("://", 1)[0] not in {"redis", "rediss", "unix"}:
        raise MetricError(
            "INVALID_CONFIG", "REDIS_URL must start with redis://, rediss:// or unix://"
        )
    return Settings(
        queue_url=env.get("VIDEO_SQS_QUEUE_URL", "").strip(),
        queue_name=env.get("VIDEO_SQS_QUEUE_NAME", "").strip() or DEFAULT_QUEUE_NAME,
        dlq_url=env.get("VIDEO_DLQ_URL", "").strip(),
        dlq_name=env.get("VIDEO_DLQ_NAME", "").strip(),
        target_backlog_per_worker=_env_positive_number(env, "VIDEO_TARGET_BACKLOG_PER_WORKER", 1),
        min_workers=min_workers,
        max_workers=max_workers,
        fast_ack=fast_ack,
        redis_url=redis_url,
        namespace=env.get("METRIC_NAMESPACE", "").strip() or DEFAULT_NAMESPACE,
        dimensions=_dimensions(env.get("METRIC_DIMENSIONS", "")),
    )


def _aws_error(exc: ClientError, what: str) -> MetricError:
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    message = exc.response.get("Error", {}).get("Message", "")
    if code in MISSING_QUEUE_CODES:
        return MetricError("QUEUE_NOT_FOUND", f"{what}: queue does not exist ({code})")
    if code in THROTTLING_CODES:
        return MetricError(
            "THROTTLED", f"{what}: throttled by AWS ({code}), retried and gave up", retryable=True
        )
    return MetricError("AWS_ERROR", f"{what}: {code} {message}".strip(), retryable=True)


def _queue_url(sqs: Any, url: str, name: str) -> str:
    if url:
        return url
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        raise _aws_error(exc, f"GetQueueUrl {name}") from None


def _attributes(sqs: Any, url: str, names: list[str]) -> dict[str, str]:
    try:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names).get("Attributes", {})
    except ClientError as exc:
        raise _aws_error(exc, f"GetQueueAttributes {url.rsplit('/', 1)[-1]}") from None


def _count(attributes: Mapping[str, str], name: str, queue: str) -> int:
    raw = attributes.get(name)
    if raw is None:
        raise MetricError("ATTRIBUTES_MISSING", f"{queue}: SQS returned no {name}", retryable=True)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise MetricError(
            "ATTRIBUTES_MISSING", f"{queue}: {name} is not a number ({raw!r})", retryable=True
        ) from None


def _dlq_location(settings: Settings, redrive_policy: str | None) -> tuple[str, str, str]:
    """(url, name, account) of the dead-letter queue; explicit settings win over the redrive."""
    if settings.dlq_url:
        return settings.dlq_url, settings.dlq_url.rsplit("/", 1)[-1], ""
    if settings.dlq_name:
        return "", settings.dlq_name, ""
    if not redrive_policy:
        return "", "", ""
    try:
        arn = json.loads(redrive_policy)["deadLetterTargetArn"]
        _, _, _, _, account, name = arn.split(":", 5)
    except (ValueError, KeyError, TypeError):
        raise MetricError(
            "ATTRIBUTES_MISSING",
            f"RedrivePolicy has no usable deadLetterTargetArn: {redrive_policy}",
        ) from None
    return "", name, account


def _dlq_depth(sqs: Any, settings: Settings, redrive_policy: str | None) -> tuple[str, int | None]:
    url, name, account = _dlq_location(settings, redrive_policy)
    if not name:
        return "", None
    if not url:
        try:
            kwargs = {"QueueName": name, **({"QueueOwnerAWSAccountId": account} if account else {})}
            url = sqs.get_queue_url(**kwargs)["QueueUrl"]
        except ClientError as exc:
            raise _aws_error(exc, f"GetQueueUrl dead-letter queue {name}") from None
    attrs = _attributes(sqs, url, ["ApproximateNumberOfMessages"])
    return name, _count(attrs, "ApproximateNumberOfMessages", name)


def count_heartbeats(client: Any) -> int:
    """Live heartbeat keys, one per running job; SCAN so a big keyspace never blocks Redis."""
    return sum(1 for _ in client.scan_iter(match=HEARTBEAT_PATTERN, count=SCAN_COUNT))


def _heartbeats(redis_url: str) -> int:
    if redis is None:
        raise MetricError(
            "HEARTBEATS_UNAVAILABLE",
            "VIDEO_FAST_ACK=1 but the redis package is not in the deployment zip",
        )
    client = redis.Redis.from_url(
        redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        return count_heartbeats(client)
    except redis.RedisError as exc:
        raise MetricError(
            "HEARTBEATS_UNAVAILABLE",
            f"cannot count heartbeats in Redis ({type(exc).__name__}); "
            "video_desired not published so scale-in cannot stop busy workers",
            retryable=True,
        ) from None
    finally:
        client.close()


def _publish(cloudwatch: Any, settings: Settings, metrics: Mapping[str, int]) -> None:
    dimensions = [{"Name": name, "Value": value} for name, value in settings.dimensions]
    now = datetime.now(UTC)
    data = [
        {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": now,
            "Value": float(value),
            "Unit": "Count",
        }
        for name, value in metrics.items()
    ]
    try:
        cloudwatch.put_metric_data(Namespace=settings.namespace, MetricData=data)
    except ClientError as exc:
        raise _aws_error(exc, "PutMetricData") from None


def _read_queue(settings: Settings, sqs: Any, result: dict[str, Any]) -> dict[str, int]:
    """Read the video queue into `result`; return its metrics to publish."""
    url = _queue_url(sqs, settings.queue_url, settings.queue_name)
    name = url.rsplit("/", 1)[-1]
    result["queue"] = name
    attrs = _attributes(sqs, url, [*QUEUE_ATTRIBUTES, "RedrivePolicy"])
    metrics = {
        "video_visible": _count(attrs, "ApproximateNumberOfMessages", name),
        "video_inflight": _count(attrs, "ApproximateNumberOfMessagesNotVisible", name),
        "video_delayed": _count(attrs, "ApproximateNumberOfMessagesDelayed", name),
    }
    result.update(metrics)
    result["redrive_policy"] = attrs.get("RedrivePolicy")
    return metrics


def _measure_and_publish(
    settings: Settings, sqs: Any, cloudwatch: Any, result: dict[str, Any]
) -> None:
    pending = _read_queue(settings, sqs, result)
    redrive = result.pop("redrive_policy")
    # A broken dead-letter queue must not stop scaling: publish the rest, then report it.
    dlq_error = None
    try:
        result["dlq"], result["video_dlq_visible"] = _dlq_depth(sqs, settings, redrive)
    except MetricError as exc:
        result["dlq"], result["video_dlq_visible"], dlq_error = None, None, exc
    if result["video_dlq_visible"] is not None:
        pending["video_dlq_visible"] = result["video_dlq_visible"]
    heartbeats = None
    if settings.fast_ack:
        try:
            heartbeats = _heartbeats(settings.redis_url)
        except MetricError:
            # Publish what is known; withholding video_desired holds the fleet steady.
            _publish(cloudwatch, settings, pending)
            result["published"] = sorted(pending)
            raise
    result["video_heartbeats"] = heartbeats
    raw, desired = desired_workers(
        result["video_visible"],
        result["video_inflight"],
        heartbeats,
        settings.fast_ack,
        settings.target_backlog_per_worker,
        settings.min_workers,
        settings.max_workers,
    )
    pending.update(video_desired_raw=raw, video_desired=desired)
    result.update(video_desired_raw=raw, video_desired=desired)
    _publish(cloudwatch, settings, pending)
    result["published"] = sorted(pending)
    if dlq_error is not None:
        raise dlq_error
    result["ok"] = True


# The zip holds this file alone, so it carries its own copy of src/application/domain/redaction.py's
# rule: botocore puts the endpoint URL, credentials included, into its error text.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/\"'<>]*@")


def run(env: Mapping[str, str], *, sqs: Any = None, cloudwatch: Any = None) -> dict[str, Any]:
    """One measurement: read, compute, publish, print one JSON line, return the dict."""
    started = time.monotonic()
    result: dict[str, Any] = {"ok": False, "published": []}
    try:
        settings = load_settings(env)
        result.update(
            fast_ack=settings.fast_ack,
            target_backlog_per_worker=settings.target_backlog_per_worker,
            min_workers=settings.min_workers,
            max_workers=settings.max_workers,
            namespace=settings.namespace,
            dimensions=dict(settings.dimensions),
        )
        _measure_and_publish(
            settings,
            sqs or boto3.client("sqs", config=AWS_CONFIG),
            cloudwatch or boto3.client("cloudwatch", config=AWS_CONFIG),
            result,
        )
    except MetricError as exc:
        result.update(error=exc.message, error_code=exc.code, retryable=exc.retryable)
    except BotoCoreError as exc:
        # No credentials, endpoint unreachable, timeouts: botocore's own failures.
        result.update(
            error=f"AWS call failed: {type(exc).__name__}: {exc}",
            error_code="AWS_UNAVAILABLE",
            retryable=True,
        )
    except Exception as exc:  # noqa: BLE001 - the one boundary: report, never die silently
        result.update(
            error=f"unexpected {type(exc).__name__}: {exc}",
            error_code="INTERNAL_ERROR",
            retryable=False,
        )
    if isinstance(result.get("error"), str):
        result["error"] = _URL_USERINFO.sub(r"\1***@", result["error"])
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    _log(result)
    return result


def _log(result: Mapping[str, Any]) -> None:
    line = {
        "event": "QUEUE_DEPTH_METRIC_PUBLISHED" if result["ok"] else "QUEUE_DEPTH_METRIC_FAILED",
        "level": "info" if result["ok"] else "error",
        "timestamp": datetime.now(UTC).isoformat(),
        **result,
    }
    print(json.dumps(line, sort_keys=True, default=str))


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (EventBridge schedule); the event carries nothing we need."""
    return run(os.environ)
