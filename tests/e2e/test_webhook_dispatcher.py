"""The deliver_webhooks process: events committed while no dispatcher runs (one was killed)
are delivered once it is back; SIGTERM stops it cleanly; its /metrics count a retry, then a
delivery, and the backlog of due deliveries."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading

import pytest

from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from apps.support.webhooks.endpoints import create_endpoint
from apps.support.webhooks.models import WebhookDelivery
from bench.harness import ProcessLog, free_port, wait_until
from src.application.domain.webhooks import DeliveryStatus
from src.application.ports.video_repository import VideoResult
from tests.e2e.harness import scrape, scrape_text, value
from tests.webhook_receiver import Reply, WebhookReceiver


def _dispatcher(name: str, db_url: str, log_dir, *extra: str, **env_extra: str) -> ProcessLog:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="academy.settings",
        DATABASE_URL=db_url,
        VIDEO_WEBHOOK_ALLOW_INSECURE="1",
        VIDEO_WEBHOOK_ALLOW_PRIVATE="1",
        WORKER_ID=name,
        PYTHONUNBUFFERED="1",
        **env_extra,
    )
    args = [sys.executable, "manage.py", "deliver_webhooks", "--loop", "0.2", *extra]
    return ProcessLog(name, args, env, log_dir)


@pytest.fixture
def loopback_endpoints(settings):
    """This process registers endpoints on a loopback http receiver (the dispatchers are
    started with the same two settings)."""
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        webhooks=dataclasses.replace(
            settings.CONFIG.webhooks, allow_insecure=True, allow_private=True
        ),
    )


def _video_ready(tenant) -> int:
    """A worker's claim and fenced complete: the video.ready event and its deliveries."""
    repo = DjangoVideoRepository()
    video_id = repo.create_video(tenant.pk, title="Week 2", source_key="s.mp4")
    lease = repo.try_claim_video(video_id, "worker-a")
    assert repo.complete(lease, VideoResult(hls_key="k/master.m3u8"))
    return video_id


def test_events_committed_while_the_dispatcher_is_dead_are_delivered_after_restart(
    db_url, tenant, tmp_path, loopback_endpoints
):
    receiver = WebhookReceiver().start()
    first = _dispatcher("dispatcher-a", db_url, tmp_path)
    second = None
    try:
        receiver.secret = create_endpoint(tenant.pk, receiver.url, ["video.ready"]).secret
        first.wait_event("WEBHOOK_DISPATCHER_STARTED")
        first.signal(signal.SIGKILL)
        first.wait()
        # The worker's fenced complete commits while no dispatcher is alive.
        video_id = _video_ready(tenant)
        assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING
        second = _dispatcher("dispatcher-b", db_url, tmp_path)
        (got,) = receiver.wait_for(1, timeout=30)
        assert got.verified and got.payload["data"]["id"] == video_id
        second.wait_event("WEBHOOK_DELIVERED", video_id=video_id)
        wait_until(
            lambda: WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED,
            10,
            what="the delivery row marked DELIVERED",
        )
        second.signal(signal.SIGTERM)
        assert second.wait(15) == 0
        assert second.events("WEBHOOK_DISPATCHER_STOPPED")[0]["signal"] == "SIGTERM"
        assert len(receiver.received) == 1
        assert second.problems() == []
    finally:
        first.kill()
        if second is not None:
            second.kill()
        receiver.stop()


def test_metrics_count_a_retry_then_the_delivery_and_the_due_backlog(
    db_url, tenant, tmp_path, loopback_endpoints
):
    receiver = WebhookReceiver().start()
    answer = threading.Event()
    receiver.replies.append(Reply(500, hold=answer))  # then the default 200
    port = free_port()
    dispatcher = None
    try:
        receiver.secret = create_endpoint(tenant.pk, receiver.url, ["video.ready"]).secret
        video_id = _video_ready(tenant)  # due before the dispatcher's first pass counts
        dispatcher = _dispatcher("dispatcher-m", db_url, tmp_path, "--metrics-port", str(port))
        assert dispatcher.wait_event("WEBHOOK_DISPATCHER_STARTED")["metrics_port"] == port

        # The first pass counted one due delivery and holds its POST open: nothing settled.
        wait_until(
            lambda: value(scrape(port), "video_webhook_deliveries_due") == 1,
            30,
            what="the due gauge at 1 while the first attempt is in flight",
        )
        held = scrape(port)
        for result in ("delivered", "retry"):
            assert value(held, "video_webhook_deliveries_total", result=result) == 0
        assert value(held, "video_webhook_send_duration_seconds_count") == 0

        answer.set()  # 500: a retry about 5 s later
        failed = dispatcher.wait_event("WEBHOOK_ATTEMPT_FAILED", video_id=video_id)
        assert (failed["result"], failed["status_code"]) == ("retry", 500)
        retried = scrape(port)
        assert value(retried, "video_webhook_deliveries_total", result="retry") == 1
        assert value(retried, "video_webhook_deliveries_total", result="delivered") == 0
        assert value(retried, "video_webhook_send_duration_seconds_count") == 1

        dispatcher.wait_event("WEBHOOK_DELIVERED", video_id=video_id, timeout=30)
        wait_until(
            lambda: value(scrape(port), "video_webhook_deliveries_due") == 0,
            10,
            what="the due gauge back at 0 on the pass after the delivery",
        )
        done = scrape(port)
        assert value(done, "video_webhook_deliveries_total", result="delivered") == 1
        assert value(done, "video_webhook_deliveries_total", result="retry") == 1
        assert value(done, "video_webhook_send_duration_seconds_count") == 2
        assert value(done, "video_webhook_send_duration_seconds_sum") > 0
        assert [r.answered for r in receiver.received] == [500, 200]
        (tmp_path / "dispatcher-metrics.txt").write_text(scrape_text(port))

        dispatcher.signal(signal.SIGTERM)
        assert dispatcher.wait(15) == 0
        assert dispatcher.problems() == []
    finally:
        answer.set()
        if dispatcher is not None:
            dispatcher.kill()
        receiver.stop()


def test_metrics_port_without_loop_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_", "DJANGO_"))}
    env.update(DJANGO_SETTINGS_MODULE="academy.settings")
    args = [sys.executable, "manage.py", "deliver_webhooks", "--metrics-port", "9102"]
    once = ProcessLog("dispatcher-once", args, env, tmp_path)
    assert once.wait(60) == 2
    assert "--metrics-port needs --loop" in once.tail()


def test_the_loop_keeps_the_image_liveness_file_fresh(db_url, tmp_path):
    from academy.healthcheck import main as healthcheck

    alive = tmp_path / "alive"
    dispatcher = _dispatcher("dispatcher-alive", db_url, tmp_path, LIVENESS_FILE=str(alive))
    try:
        dispatcher.wait_event("WEBHOOK_DISPATCHER_STARTED")
        wait_until(alive.exists, 10, what="the liveness file")
        first = alive.stat().st_mtime_ns
        wait_until(lambda: alive.stat().st_mtime_ns > first, 10, what="a later pass's write")
        assert alive.read_text() == "120.4\n"  # two intervals plus the slack
        assert healthcheck({"LIVENESS_FILE": str(alive)}) == 0
        dispatcher.signal(signal.SIGTERM)
        assert dispatcher.wait(15) == 0
        assert dispatcher.problems() == []
    finally:
        dispatcher.kill()
