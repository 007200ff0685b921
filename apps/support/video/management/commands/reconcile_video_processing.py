"""manage.py reconcile_video_processing [--dry-run] [--loop SECONDS] [--limit N] [--json]
[--force --video-id N] [--metrics-port PORT]
[--cleanup-every SECONDS]

Puts PROCESSING videos whose worker died (lease expired, or heartbeat gone) back to UPLOADED
and re-enqueues them; re-enqueues UPLOADED videos whose message was lost (src/application/
reconcile.py says exactly when). Deployed as `--loop SECONDS`: one pass every SECONDS until
SIGTERM/SIGINT (academy.cli.run_every), one JSON log line per pass, errors logged and retried
on the next pass; the loop also runs cleanup_videos' pass (every part — dead outputs,
abandoned uploads, expired Idempotency-Key records, old webhook deliveries, old sources — one
CLEANUP_PASS log line) at start and every --cleanup-every seconds: the one place where
housekeeping is scheduled.

A single run prints a human summary (or, with --json, exactly one JSON object) on stdout and
exits 0, or 1 when a database or SQS error stopped part of the work (the message says what).
--dry-run reads everything and changes nothing. --force --video-id N reclaims video N
whatever its lease says (operator override; its worker, if alive, loses the lease).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from academy.bootstrap import bootstrap
from academy.cli import add_metrics_port_argument, run_every, seconds_type, serve_metrics_port
from src.application.reconcile import Reconciler, ReconcileReport
from src.infrastructure import metrics
from src.infrastructure.liveness import LivenessFile

log = structlog.get_logger("apps.support.video.reconcile")

FAILED = 1
USAGE = 2
# --loop bounds: each pass costs a few queries, so at most four a second; at most a day
# between passes (the deployed value is 30 s).
LOOP_MIN_SECONDS = 0.25
LOOP_MAX_SECONDS = 24 * 3600.0
# The loop's cleanup pass (cleanup_videos) lists every video's outputs and the storage's
# unfinished uploads: hourly by default, at most each minute.
CLEANUP_EVERY_SECONDS = 3600.0
CLEANUP_MIN_SECONDS = 60.0
# The liveness file (the image's HEALTHCHECK) is written after each pass; a cleanup pass may
# list a large bucket, so a stuck loop is one silent for two intervals plus this long.
LIVENESS_SLACK_SECONDS = 600.0


class Command(BaseCommand):
    help = (
        "Reclaim PROCESSING videos whose worker died (lease expired or heartbeat gone) and "
        "re-enqueue them; re-enqueue UPLOADED videos whose job message was lost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="change nothing; print plan")
        parser.add_argument(
            "--loop",
            type=seconds_type(LOOP_MIN_SECONDS, LOOP_MAX_SECONDS),
            default=None,
            metavar="SECONDS",
            help=f"run a pass every SECONDS (at least {LOOP_MIN_SECONDS:g}) until SIGTERM/SIGINT"
            " (how it is deployed)",
        )
        parser.add_argument(
            "--limit", type=int, default=100, help="rows looked at per rule per pass (100)"
        )
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
        parser.add_argument(
            "--force",
            action="store_true",
            help="with --video-id: reclaim that PROCESSING video whatever its lease says",
        )
        parser.add_argument("--video-id", type=int, default=None, metavar="N")
        parser.add_argument(
            "--cleanup-every",
            type=seconds_type(CLEANUP_MIN_SECONDS, LOOP_MAX_SECONDS),
            default=CLEANUP_EVERY_SECONDS,
            metavar="SECONDS",
            help="with --loop: run cleanup_videos' pass (dead outputs, abandoned uploads, expired"
            " records, old sources) at most this often (default 3600)",
        )
        add_metrics_port_argument(parser)

    def handle(self, *args, **options) -> None:
        force, video_id, loop = options["force"], options["video_id"], options["loop"]
        if force != (video_id is not None):
            raise CommandError("--force and --video-id N go together", returncode=USAGE)
        if force and loop is not None:
            raise CommandError(
                "--force is a one-off: it cannot be combined with --loop", returncode=USAGE
            )
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1", returncode=USAGE)
        serve_metrics_port(options["metrics_port"], loop)

        services = bootstrap(settings.CONFIG)
        reconciler = services.reconciler(limit=options["limit"])
        if loop is not None:
            # The caption jobs are reconciled by the same rules on their own rows and queue.
            captions = (
                services.caption_reconciler(limit=options["limit"])
                if settings.CONFIG.captions.enabled
                else None
            )
            # A READY video whose worker died before asking for its captions gets them.
            mend = (
                functools.partial(
                    services.caption_requests.request_unrequested,
                    settings.CONFIG.reenqueue_after_seconds,
                )
                if captions is not None
                else None
            )
            self._run_periodically(
                reconciler, loop, options["dry_run"], options["cleanup_every"], captions, mend
            )
            return

        report = reconciler.run_once(dry_run=options["dry_run"], force_video_id=video_id)
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), sort_keys=True))
        else:
            self.stdout.write(summary(report))
        if not report.ok:
            raise CommandError(failure_message(report), returncode=FAILED)

    # -- loop mode ------------------------------------------------------------------------
    def _run_periodically(
        self,
        reconciler: Reconciler,
        interval: float,
        dry_run: bool,
        cleanup_every: float,
        captions: Reconciler | None = None,
        mend_captions: Callable[[], list[int]] | None = None,
    ) -> None:
        log.info(
            "RECONCILE_STARTED",
            interval_seconds=interval,
            dry_run=dry_run,
            limit=reconciler.limit,
            heartbeat_grace_seconds=reconciler.heartbeat_grace_seconds,
            reenqueue_after_seconds=reconciler.reenqueue_after_seconds,
        )
        ticks = 0
        next_cleanup = time.monotonic()

        def one_pass(_stopping) -> None:
            nonlocal ticks, next_cleanup
            ticks += 1
            report = reconciler.run_once(dry_run=dry_run)
            metrics.record_reconcile_pass(report)
            log_tick(report, ticks, reconciler)
            if captions is not None:
                caption_report = captions.run_once(dry_run=dry_run)
                if caption_report.actions or caption_report.errors:
                    log_tick(caption_report, ticks, captions, "RECONCILE_CAPTIONS_TICK")
            if mend_captions is not None and not dry_run:
                mend_captions()
            if not report.ok:
                # A dead database connection is replaced on the next pass, not reused.
                connections.close_all()
            elif time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + cleanup_every
                cleanup_pass(dry_run)

        liveness = LivenessFile(
            settings.CONFIG.liveness_file, 2 * interval + LIVENESS_SLACK_SECONDS
        )
        stop = run_every(interval, one_pass, on_pass_error, liveness=liveness)
        log.info("RECONCILE_STOPPED", signal=stop, ticks=ticks)


def on_pass_error(exc: Exception) -> float:
    """A pass that raised (its report catches database and SQS errors): logged, and the next
    pass comes at its usual time on a fresh connection."""
    connections.close_all()
    log.error("RECONCILE_PASS_FAILED", error=f"{type(exc).__name__}: {exc}"[:300], exc_info=True)
    return 0.0


def cleanup_pass(dry_run: bool) -> None:
    """Everything manage.py cleanup_videos removes, one CLEANUP_PASS log line; errors logged."""
    from apps.support.video.management.commands.cleanup_videos import cleanup

    try:
        report = cleanup(dry_run)
    except Exception as exc:  # noqa: BLE001 - the next cleanup pass tries again
        connections.close_all()
        log.warning("CLEANUP_PASS_FAILED", error=f"{type(exc).__name__}: {exc}"[:300])
        return
    if not report.ok:
        connections.close_all()  # a database error may have broken the connection
    emit = log.info if report.ok else log.warning
    emit("CLEANUP_PASS", **report.to_dict())


def log_tick(
    report: ReconcileReport, tick: int, reconciler: Reconciler, event: str = "RECONCILE_TICK"
) -> None:
    """One structured line per pass: what was done, why things were left, what failed."""
    emit = log.warning if report.errors else log.info
    emit(
        event,
        tick=tick,
        dry_run=report.dry_run,
        reclaimed=report.reclaimed,
        reenqueued=report.reenqueued,
        expired_uploads=report.expired,
        would=[
            {"video_id": a.video_id, "action": a.action, "reason": a.reason}
            for a in report.actions
            if a.action.startswith("would_")
        ],
        reclaim_reasons={a.video_id: a.reason for a in report.actions if a.action == "reclaimed"},
        skipped=len(report.skipped),
        skipped_reasons=report.skipped_reasons(),
        errors=report.errors,
        pending_enqueues=sorted(reconciler.failed_enqueues),
        redis_available=report.redis_available,
        notes=report.notes,
        duration_ms=report.duration_ms,
    )


def summary(report: ReconcileReport) -> str:
    """The human summary of one pass."""
    head = "dry run, nothing changed: " if report.dry_run else ""
    if report.dry_run:
        would_reclaim = sum(a.action == "would_reclaim" for a in report.actions)
        would_send = sum(a.action == "would_reenqueue" for a in report.actions)
        counts = f"would reclaim {would_reclaim}, would re-enqueue {would_send + would_reclaim}"
    else:
        counts = f"reclaimed {len(report.reclaimed)}, re-enqueued {len(report.reenqueued)}"
        if report.expired:
            counts += f", expired {len(report.expired)} upload(s)"
    lines = [
        f"{head}{counts}, skipped {len(report.skipped)}, errors {len(report.errors)}"
        f" (redis {'available' if report.redis_available else 'UNAVAILABLE'})"
    ]
    for a in report.actions:
        claim = f" (worker {a.leased_by}, lease token {a.lease_token})" if a.leased_by else ""
        verb = a.action.replace("_", " ").replace("reenqueue", "re-enqueue")
        lines.append(f"  video {a.video_id}: {verb}: {a.reason}{claim}")
    for e in report.errors:
        if e["video_id"] is None:
            lines.append(f"  error in {e['stage']}: {e['error']}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def failure_message(report: ReconcileReport) -> str:
    stages = sorted({e["stage"] for e in report.errors})
    first = report.errors[0]["error"]
    hint = ""
    database_stages = ("list_processing", "list_stale_uploaded", "mark_enqueued", "expire_uploads")
    if any(s in database_stages for s in stages):
        hint += " Is the database (DATABASE_URL) reachable?"
    if "enqueue" in stages:
        hint += (
            " Could not send to SQS (AWS_ENDPOINT_URL / VIDEO_SQS_QUEUE_URL): reclaimed videos"
            " stay UPLOADED and are re-enqueued after VIDEO_REENQUEUE_AFTER_SECONDS."
        )
    return (
        f"reconcile failed: {len(report.errors)} error(s) in {', '.join(stages)}; "
        f"first: {first}.{hint}"
    )
