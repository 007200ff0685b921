"""manage.py deliver_webhooks [--loop SECONDS [--metrics-port PORT]] [--json]: send due
webhook deliveries.

Without --loop: deliver everything due now, print a summary, exit 0. Deployed as
`--loop SECONDS`: drain what is due every SECONDS (academy.cli.run_every) until SIGTERM/SIGINT
(the batch in flight is finished first). Run as many as you like: each delivery is claimed by one
dispatcher at a time (SELECT … FOR UPDATE SKIP LOCKED). One log line per attempt
(WEBHOOK_DELIVERED, WEBHOOK_ATTEMPT_FAILED); errors of a pass are logged and retried.
With --metrics-port the loop serves Prometheus /metrics: attempts by result and send latency
(counted from those lines) and the deliveries due when each pass began.
"""

from __future__ import annotations

import json

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections
from django.utils.module_loading import import_string

from academy.bootstrap import build_webhook_dispatcher
from academy.cli import add_metrics_port_argument, run_every, seconds_type, serve_metrics_port
from src.application.deliver_webhooks import WebhookDispatcher
from src.infrastructure import metrics
from src.infrastructure.liveness import LivenessFile

log = structlog.get_logger("academy.webhooks")

# --loop bounds: a pass when nothing is due is one indexed query.
LOOP_MIN_SECONDS = 0.1
LOOP_MAX_SECONDS = 3600.0
# After a failed pass (database down), wait at least this long before the next.
ERROR_BACKOFF_SECONDS = 1.0
# The liveness file (the image's HEALTHCHECK) is written after each pass; a pass sends at
# most a batch whose requests time out (VIDEO_WEBHOOK_TIMEOUT_SECONDS), so a loop silent for
# two intervals plus this long is stuck.
LIVENESS_SLACK_SECONDS = 120.0


class Command(BaseCommand):
    help = "Send due webhook deliveries (signed per Standard Webhooks), once or in a loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            type=seconds_type(LOOP_MIN_SECONDS, LOOP_MAX_SECONDS),
            default=None,
            metavar="SECONDS",
            help="drain what is due every SECONDS until SIGTERM/SIGINT (how it is deployed)",
        )
        parser.add_argument("--json", action="store_true", help="one JSON summary on stdout")
        add_metrics_port_argument(parser)

    def handle(self, *args, **options) -> None:
        serve_metrics_port(options["metrics_port"], options["loop"])
        render_video = import_string(settings.WEBHOOK_PAYLOAD_RENDERER)
        dispatcher = build_webhook_dispatcher(settings.CONFIG, render_video)
        if options["loop"] is None:
            report = dispatcher.drain()
            summary = {"claimed": report.claimed, "results": report.results}
            self.stdout.write(
                json.dumps(summary, sort_keys=True)
                if options["json"]
                else f"claimed {report.claimed}: "
                + (", ".join(f"{k} {v}" for k, v in sorted(report.results.items())) or "nothing")
            )
            return
        self._run_periodically(dispatcher, options["loop"], options["metrics_port"])

    def _run_periodically(
        self, dispatcher: WebhookDispatcher, interval: float, metrics_port: int | None
    ) -> None:
        log.info(
            "WEBHOOK_DISPATCHER_STARTED",
            interval_seconds=interval,
            concurrency=dispatcher.concurrency,
            dispatcher_id=dispatcher.dispatcher_id,
            metrics_port=metrics_port,
        )

        def one_pass(stopping) -> None:
            metrics.WEBHOOK_DUE.set(dispatcher.backlog())
            report = dispatcher.drain(stopping=stopping)
            if report.claimed:
                log.info("WEBHOOK_PASS", claimed=report.claimed, results=report.results)

        liveness = LivenessFile(
            settings.CONFIG.liveness_file, 2 * interval + LIVENESS_SLACK_SECONDS
        )
        stop = run_every(interval, one_pass, on_pass_error, liveness=liveness)
        log.info("WEBHOOK_DISPATCHER_STOPPED", signal=stop)


def on_pass_error(exc: Exception) -> float:
    """The loop outlives a database outage: log, drop the connections, wait a little."""
    log.error("WEBHOOK_PASS_FAILED", error=f"{type(exc).__name__}: {exc}")
    connections.close_all()
    return ERROR_BACKOFF_SECONDS
