"""The metric definitions: log events they count, multiprocess merging, the infra files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from academy.config import ConfigError
from src.infrastructure import metrics
from tests.dev_config import dev_config

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_completed_job_line_fills_outcome_and_stage_histograms():
    before_ready = sample("video_jobs_total", outcome="ready", error_code="")
    before_encode = sample("video_stage_duration_seconds_sum", stage="encode")
    line = {"event": "SQS_JOB_COMPLETED", "transcode_ms": 1500, "total_ms": 2000, "claim_ms": 3}
    assert metrics.observe_log_event(None, "info", dict(line)) == line
    assert sample("video_jobs_total", outcome="ready", error_code="") == before_ready + 1
    assert sample("video_stage_duration_seconds_sum", stage="encode") == before_encode + 1.5


def test_failures_count_by_error_code_and_dependency():
    before = sample("video_jobs_total", outcome="failed", error_code="PROBE_FAILED")
    metrics.observe_log_event(
        None, "error", {"event": "VIDEO_PROCESSING_FAILED", "error_code": "PROBE_FAILED"}
    )
    assert sample("video_jobs_total", outcome="failed", error_code="PROBE_FAILED") == before + 1
    lost = sample("video_lease_events_total", event="lost")
    metrics.observe_log_event(None, "error", {"event": "VIDEO_LEASE_LOST"})
    assert sample("video_lease_events_total", event="lost") == lost + 1
    redis_errors = sample("video_dependency_errors_total", dependency="redis")
    metrics.observe_log_event(
        None, "warning", {"event": "REDIS_UNAVAILABLE", "error": "ConnectionError: redis down"}
    )
    assert sample("video_dependency_errors_total", dependency="redis") == redis_errors + 1


def test_other_lines_count_nothing():
    before = {s.name: s.value for m in REGISTRY.collect() for s in m.samples}
    metrics.observe_log_event(None, "info", {"event": "WORKER_STARTED", "error": ""})
    after = {s.name: s.value for m in REGISTRY.collect() for s in m.samples}
    assert {k: v for k, v in after.items() if not k.startswith("process_")} == {
        k: v for k, v in before.items() if not k.startswith("process_")
    }


def test_a_renewed_lease_counts_as_renewed():
    before = sample("video_lease_events_total", event="renewed")
    metrics.observe_log_event(None, "info", {"event": "VIDEO_LEASE_RENEWED", "lease_token": 3})
    assert sample("video_lease_events_total", event="renewed") == before + 1


@pytest.mark.parametrize(
    ("event", "result", "label", "timed"),
    [
        ("WEBHOOK_DELIVERED", "delivered", "delivered", True),
        ("WEBHOOK_ATTEMPT_FAILED", "retry", "retry", True),
        ("WEBHOOK_ATTEMPT_FAILED", "gone", "gone", True),
        ("WEBHOOK_ATTEMPT_FAILED", "failed", "failed", True),
        ("WEBHOOK_ATTEMPT_FAILED", "refused", "refused", False),  # nothing was sent
        ("WEBHOOK_CLAIM_LOST", "delivered", "claim_lost", True),
    ],
)
def test_webhook_attempts_count_by_result_and_time_the_send(event, result, label, timed):
    before = sample("video_webhook_deliveries_total", result=label)
    sends = sample("video_webhook_send_duration_seconds_count")
    seconds = sample("video_webhook_send_duration_seconds_sum")
    line = {"event": event, "result": result, "duration_ms": 250, "status_code": 500}
    assert metrics.observe_log_event(None, "info", dict(line)) == line
    assert sample("video_webhook_deliveries_total", result=label) == before + 1
    assert sample("video_webhook_send_duration_seconds_count") == sends + (1 if timed else 0)
    assert sample("video_webhook_send_duration_seconds_sum") == seconds + (0.25 if timed else 0)


def test_a_webhook_line_with_an_unknown_result_counts_nothing():
    before = {s.name: s.value for m in REGISTRY.collect() for s in m.samples}
    metrics.observe_log_event(None, "info", {"event": "WEBHOOK_DELIVERED", "result": "x"})
    metrics.observe_log_event(None, "info", {"event": "WEBHOOK_PASS", "claimed": 2})
    after = {s.name: s.value for m in REGISTRY.collect() for s in m.samples}
    assert {k: v for k, v in after.items() if k.startswith("video_webhook")} == {
        k: v for k, v in before.items() if k.startswith("video_webhook")
    }


MULTIPROCESS_CHILD = """
from src.infrastructure import metrics
metrics.JOBS.labels("ready", "").inc({n})
"""


def test_multiprocess_mode_merges_every_process(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for n in (2, 3):
        subprocess.run(
            [sys.executable, "-c", MULTIPROCESS_CHILD.format(n=n)],
            cwd=ROOT,
            env=env,
            check=True,
        )
    reader = "from src.infrastructure import metrics\nprint(metrics.render()[0].decode())\n"
    text = subprocess.run(
        [sys.executable, "-c", reader], cwd=ROOT, env=env, check=True, capture_output=True
    ).stdout.decode()
    assert 'video_jobs_total{error_code="",outcome="ready"} 5.0' in text


DUE_CHILD = """
from src.infrastructure import metrics
metrics.WEBHOOK_DUE.set({n})
"""


def test_in_multiprocess_mode_the_due_gauge_is_the_latest_reading_not_a_sum(tmp_path):
    # Two dispatchers of one container count the same rows: 7, then 4 a pass later.
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for n in (7, 4):
        subprocess.run([sys.executable, "-c", DUE_CHILD.format(n=n)], cwd=ROOT, env=env, check=True)
    reader = "from src.infrastructure import metrics\nprint(metrics.render()[0].decode())\n"
    text = subprocess.run(
        [sys.executable, "-c", reader], cwd=ROOT, env=env, check=True, capture_output=True
    ).stdout.decode()
    assert "video_webhook_deliveries_due 4.0" in text


@pytest.mark.parametrize("raw", ["0", "65536", "http", "-1"])
def test_a_bad_worker_metrics_port_is_refused(raw):
    with pytest.raises(ConfigError, match="WORKER_METRICS_PORT"):
        dev_config({"WORKER_METRICS_PORT": raw})


def test_worker_metrics_port_is_off_unless_set():
    assert dev_config({}).worker_metrics_port is None
    assert dev_config({"WORKER_METRICS_PORT": "9100"}).worker_metrics_port == 9100


def test_the_dashboard_and_alarms_name_only_exported_series():
    exported = {
        name
        for value in vars(metrics).values()
        if hasattr(value, "_name") and hasattr(value, "_type")
        for name in (value._name, value._name + "_total")
    }
    exported |= {f"{n}_{suffix}" for n in list(exported) for suffix in ("bucket", "sum", "count")}
    dashboard = json.loads((ROOT / "infra" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += re.findall(r"expr: (.+)", (ROOT / "infra" / "README.md").read_text())
    names = {n for e in exprs for n in re.findall(r"\b((?:video|api)_[a-z_]+)\b", e)}
    assert names and names <= exported, names - exported


def test_the_architecture_metrics_chapter_lists_every_series():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    chapter = doc[doc.index("## Metrics\n") :]
    chapter = chapter[: chapter.index("\n## ", 1)]
    defined = {
        value._name + ("_total" if value._type == "counter" else "")
        for value in vars(metrics).values()
        if hasattr(value, "_name") and hasattr(value, "_type")
    }
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", chapter, re.MULTILINE))
    assert defined == documented, (defined - documented, documented - defined)
