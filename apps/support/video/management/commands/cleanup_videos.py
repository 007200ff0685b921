"""manage.py cleanup_videos [--dry-run] [--json] [--grace SECONDS]

One cleanup run, every part (src/application/video_cleanup.py; docs/ARCHITECTURE.md,
"Cleanup"):
- output prefixes left by claims that did not complete: every claim folder of a video
  (`media/{video}/{claim}/`, and the legacy `…/hls/{token}/`) other than the one its row
  publishes and other than its current lease token's, with nothing written below it for
  --grace seconds;
- abandoned uploads (S3 multipart uploads, local temporary files) idle for
  VIDEO_UPLOAD_TTL_SECONDS that no open AWAITING_UPLOAD row owns: aborted;
- Idempotency-Key records past their retention (24 h) and finished webhook deliveries past
  VIDEO_WEBHOOK_RETENTION_DAYS: deleted;
- with VIDEO_SOURCE_RETENTION_DAYS set: the source of each READY video that completed more
  than that many days ago (the row records `source_removed_at`).

Works on whichever storage VIDEO_STORAGE_URL names (local folder or S3). --dry-run deletes
nothing and reports what would go. Exits 1 when an error stopped part of the work (each error
names its part); the other parts still ran.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from academy.bootstrap import bootstrap
from academy.cli import seconds_type
from src.application.video_cleanup import CleanupPolicy, VideoCleanupReport

# A claim that lost its lease stops within a renewal period; an hour is far past that.
DEFAULT_GRACE_SECONDS = 3600.0


def cleanup(dry_run: bool, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> VideoCleanupReport:
    """One run of every part with the configured storage, TTL and retentions."""
    config = settings.CONFIG
    policy = CleanupPolicy(
        output_grace_seconds=grace_seconds,
        upload_ttl_seconds=config.upload_ttl_seconds,
        source_retention_days=config.source_retention_days,
    )
    return bootstrap(config).cleanup().run(policy, dry_run)


class Command(BaseCommand):
    help = (
        "Remove what videos no longer need: dead claims' outputs, abandoned uploads, expired "
        "idempotency records and webhook deliveries, and (if configured) old READY sources."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
        parser.add_argument(
            "--grace",
            type=seconds_type(60.0, 30 * 86400.0),
            default=DEFAULT_GRACE_SECONDS,
            metavar="SECONDS",
            help="keep output prefixes written to within SECONDS (default 3600, at least 60)",
        )

    def handle(self, *args, **options) -> None:
        report = cleanup(options["dry_run"], options["grace"])
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), sort_keys=True))
        else:
            self.stdout.write("\n".join(report.summary()))
        if not report.ok:
            parts = ", ".join(sorted({e["part"] for e in report.errors}))
            raise CommandError(
                f"cleanup errors in {parts} ({len(report.errors)}); the other items were done",
                returncode=1,
            )
