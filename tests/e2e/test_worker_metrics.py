"""The worker's Prometheus exporter: a real worker process, real ffmpeg, real SQS (moto's
server), PostgreSQL and Redis; /metrics is read over HTTP after the jobs end."""

from __future__ import annotations

import signal

import pytest

from apps.support.video.models import Video
from bench.harness import free_port, wait_until
from tests.e2e.harness import scrape, value, worker_args
from tests.media import make_clip, paced_path

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_metrics_move_after_a_published_and_a_failed_job(tmp_path, sqs, spawn, make_video):
    # Ten seconds of video read at most 10x real time: the encode lasts a second or more, so
    # the job outlasts the first renewal (a third of a second after the claim, below).
    good = make_video(source=make_clip(tmp_path / "lecture.mp4", seconds=10))
    empty = make_video(content=b"")
    port = free_port()
    # The lease is renewed every VIDEO_HEARTBEAT_TTL/3, here a third of a second (the 120 s
    # lease itself never comes near expiring).
    worker = spawn(
        "worker",
        worker_args(None),
        WORKER_METRICS_PORT=str(port),
        VIDEO_HEARTBEAT_TTL="1",
        VIDEO_LEASE_SECONDS="120",
        PATH=paced_path(tmp_path / "paced", 10),
    )
    worker.wait_event("WORKER_METRICS_SERVING", timeout=60)
    before = scrape(port)
    assert value(before, "video_jobs_in_progress") == 0
    assert value(before, "video_jobs_total", outcome="ready", error_code="") == 0
    assert value(before, "video_lease_events_total", event="renewed") == 0

    sqs.send(good.id, good.tenant_id)
    sqs.send(empty.id, empty.tenant_id)
    worker.wait_event("SQS_JOB_COMPLETED", timeout=180)
    worker.wait_event("VIDEO_PROCESSING_FAILED", timeout=180)
    wait_until(
        lambda: (
            Video.objects.filter(pk__in=[good.pk, empty.pk], status__in=["READY", "FAILED"]).count()
            == 2
        ),
        timeout=30,
    )
    after = scrape(port)

    assert value(after, "video_jobs_total", outcome="ready", error_code="") == 1
    assert value(after, "video_jobs_total", outcome="failed", error_code="PROBE_FAILED") == 1
    for stage in ("download", "probe", "encode", "upload", "total"):
        assert value(after, "video_stage_duration_seconds_count", stage=stage) == 1, stage
    encode = value(after, "video_stage_duration_seconds_sum", stage="encode")
    total = value(after, "video_stage_duration_seconds_sum", stage="total")
    assert 0 < encode <= total
    assert value(after, "video_receive_to_claim_seconds_count") == 2
    assert value(after, "video_jobs_in_progress") == 0
    worker.wait_event("VIDEO_LEASE_RENEWED", video_id=good.id)
    renewals = worker.events("VIDEO_LEASE_RENEWED")
    assert value(after, "video_lease_events_total", event="renewed") == len(renewals) >= 1
    assert value(after, "video_lease_events_total", event="renew_failed") == 0

    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.tail()


def test_bad_metrics_port_stops_start_up_with_one_line(spawn):
    worker = spawn("worker", worker_args(None), WORKER_METRICS_PORT="70000")
    assert worker.wait(60) == 1
    assert "WORKER_METRICS_PORT must be between 1 and 65535, got 70000" in worker.tail()
