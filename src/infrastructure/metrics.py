"""Every Prometheus series the project exports, and the two ways they are filled.

One registry per process (prometheus_client's default). The worker serves it on
WORKER_METRICS_PORT, the API at GET /metrics, reconcile and the webhook dispatcher with
`--loop SECONDS --metrics-port PORT`. With PROMETHEUS_MULTIPROC_DIR set (several processes
per container: gunicorn/uvicorn workers), each process writes its values to files in that
folder and `render()` merges them, so a scrape sees the container, not one process.

Worker series are filled outside src/application: the SQS layer (apps/worker/video_worker)
records in-progress jobs, receive-to-claim latency and visibility extensions directly; job
outcomes, stage durations, lease events and Redis/database errors come from the structured
log events the use cases already emit (`observe_log_event`, a structlog processor), so the
use cases stay free of any metrics library. The webhook dispatcher's attempts (by result, and
how long each send took) come from its WEBHOOK_* log lines the same way; its command sets the
gauge of due deliveries once per pass.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

# Video stages run from seconds to hours: buckets up to 4 h.
STAGE_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600, 7200, 14400)
# Stage label -> the `<field>_ms` of the SQS_JOB_COMPLETED log line that carries it.
STAGES = {
    "download": "download",
    "probe": "probe",
    "encode": "transcode",
    "thumbnail": "thumbnail",
    "upload": "upload",
    "total": "total",
}

JOBS = Counter(
    "video_jobs_total",
    "Jobs handled by the worker, by outcome and error code",
    ["outcome", "error_code"],
)
CAPTION_JOBS = Counter(
    "caption_jobs_total",
    "Caption jobs handled by the worker, by outcome and error code",
    ["outcome", "error_code"],
)
# Lectures run from minutes to hours; a tiny model transcribes one in seconds to minutes.
TRANSCRIPTION_SECONDS = Histogram(
    "transcription_duration_seconds",
    "Time to transcribe one caption job's audio",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
STAGE_SECONDS = Histogram(
    "video_stage_duration_seconds",
    "Duration of each stage of a published job",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
JOBS_IN_PROGRESS = Gauge(
    "video_jobs_in_progress", "Jobs this worker is running now", multiprocess_mode="livesum"
)
LEASE_EVENTS = Counter(
    "video_lease_events_total",
    "Lease renewals, renewal failures and lost leases",
    ["event"],
)
VISIBILITY_EXTENSIONS = Counter(
    "video_sqs_visibility_extensions_total", "SQS visibility extensions, by result", ["result"]
)
RECEIVE_TO_CLAIM = Histogram(
    "video_receive_to_claim_seconds",
    "From the SQS receive to the end of the claim",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEPENDENCY_ERRORS = Counter(
    "video_dependency_errors_total", "Redis and database errors seen by the worker", ["dependency"]
)
API_REQUESTS = Counter(
    "api_requests_total", "HTTP requests by route, method and status", ["route", "method", "status"]
)
API_LATENCY = Histogram(
    "api_request_duration_seconds",
    "HTTP request latency by route",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_RATE_LIMITED = Counter(
    "api_rate_limited_total", "Requests refused by the per-key rate limit (429)", ["route"]
)
API_IDEMPOTENT_REPLAYS = Counter(
    "api_idempotent_replays_total", "Responses replayed for a repeated Idempotency-Key", ["route"]
)
RECONCILE_ROWS = Counter(
    "video_reconcile_rows_total", "Rows reconcile acted on, by action", ["action"]
)
RECONCILE_PASS_SECONDS = Histogram(
    "video_reconcile_pass_duration_seconds",
    "Duration of one reconcile pass",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
WEBHOOK_DELIVERIES = Counter(
    "video_webhook_deliveries_total",
    "Webhook delivery attempts, by result (delivered, retry, refused, gone, failed, claim_lost)",
    ["result"],
)
WEBHOOK_SEND_SECONDS = Histogram(
    "video_webhook_send_duration_seconds",
    "One webhook POST, connect to answer (attempts the address guard refused are not sent)",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30),
)
# Every dispatcher counts the same rows, so in multiprocess mode the latest reading is the
# truth: not a sum over processes, and a stopped dispatcher's older reading loses to it.
WEBHOOK_DUE = Gauge(
    "video_webhook_deliveries_due",
    "Webhook deliveries due when the dispatcher's last pass began (its backlog)",
    multiprocess_mode="mostrecent",
)

# Log events that are a final job outcome -> the outcome label.
_OUTCOME_EVENTS = {
    "SQS_JOB_COMPLETED": "ready",
    "VIDEO_PROCESSING_FAILED": "failed",
    "VIDEO_PROCESSING_RETRY": "retry",
    "VIDEO_CANCELED": "canceled",
    "VIDEO_CLAIM_SKIPPED": "skipped",
    "SQS_MESSAGE_REJECTED": "rejected",
    "VIDEO_JOB_ERROR": "error",
}
_LEASE_EVENTS = {
    "VIDEO_LEASE_RENEWED": "renewed",
    "VIDEO_LEASE_LOST": "lost",
    "VIDEO_LEASE_RENEW_FAILED": "renew_failed",
}
# The dispatcher's line for each attempt (src/application/deliver_webhooks.py). Its `result`
# field is the label, except a lost claim's (the attempt's result, not what became of it).
_WEBHOOK_EVENTS = {"WEBHOOK_DELIVERED", "WEBHOOK_ATTEMPT_FAILED", "WEBHOOK_CLAIM_LOST"}
WEBHOOK_RESULTS = ("delivered", "retry", "refused", "gone", "failed", "claim_lost")


def _dependency_of(event_dict: dict[str, Any]) -> str | None:
    error = str(event_dict.get("error", ""))
    if not error:
        return None
    lowered = error.lower()
    if "redis" in lowered:
        return "redis"
    if "operationalerror" in lowered or "interfaceerror" in lowered or "psycopg" in lowered:
        return "database"
    return None


def observe_log_event(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: count the events that are metrics; the line itself is unchanged."""
    event = event_dict.get("event")
    outcome = _OUTCOME_EVENTS.get(event) if isinstance(event, str) else None
    captions = event_dict.get("job") == "captions"  # the caption worker binds it on every line
    if event == "CAPTIONS_TRANSCRIBED" and isinstance(event_dict.get("transcribe_ms"), int):
        TRANSCRIPTION_SECONDS.observe(event_dict["transcribe_ms"] / 1000.0)
    if outcome and captions:
        CAPTION_JOBS.labels(outcome, str(event_dict.get("error_code") or "")).inc()
    elif outcome:
        JOBS.labels(outcome, str(event_dict.get("error_code") or "")).inc()
        if outcome == "ready":
            for stage, field in STAGES.items():
                ms = event_dict.get(f"{field}_ms")
                if isinstance(ms, int | float):
                    STAGE_SECONDS.labels(stage).observe(ms / 1000.0)
    if event == "VIDEO_CLAIMED" and isinstance(event_dict.get("since_receive_ms"), int):
        RECEIVE_TO_CLAIM.observe(event_dict["since_receive_ms"] / 1000.0)
    lease = _LEASE_EVENTS.get(event) if isinstance(event, str) else None
    if lease:
        LEASE_EVENTS.labels(lease).inc()
    if event in _WEBHOOK_EVENTS:
        _observe_webhook_attempt(event, event_dict)
    dependency = _dependency_of(event_dict)
    if dependency:
        DEPENDENCY_ERRORS.labels(dependency).inc()
    return event_dict


def _observe_webhook_attempt(event: str, event_dict: dict[str, Any]) -> None:
    result = "claim_lost" if event == "WEBHOOK_CLAIM_LOST" else event_dict.get("result")
    if result not in WEBHOOK_RESULTS:
        return
    WEBHOOK_DELIVERIES.labels(result).inc()
    ms = event_dict.get("duration_ms")
    if event_dict.get("result") != "refused" and isinstance(ms, int | float):
        WEBHOOK_SEND_SECONDS.observe(ms / 1000.0)


def record_reconcile_pass(report: Any) -> None:
    """One reconcile pass (a ReconcileReport): rows acted on and how long it took."""
    if report.dry_run:
        return
    for action in ("reclaimed", "reenqueued", "expired"):
        count = len(getattr(report, action))
        if count:
            RECONCILE_ROWS.labels(action).inc(count)
    if report.errors:
        RECONCILE_ROWS.labels("error").inc(len(report.errors))
    RECONCILE_PASS_SECONDS.observe(report.duration_ms / 1000.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry() -> CollectorRegistry:
    """The registry to expose: the merged files in multiprocess mode, else this process's."""
    if multiprocess_dir() is None:
        return REGISTRY
    from prometheus_client import multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def serve(port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from outside
    """Serve /metrics on a daemon thread (the worker's exporter)."""
    start_http_server(port, addr=addr, registry=registry())


def mark_process_dead(pid: int) -> None:
    """Multiprocess mode: drop a dead process's live gauges (call from the server's hook)."""
    if multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
