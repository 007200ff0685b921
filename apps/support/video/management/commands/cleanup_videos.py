"""manage.py cleanup_videos [--dry-run] [--json] [--grace SECONDS]

Removes output prefixes left by claims that did not complete: every `…/hls/{token}/` of a
video other than the one its row publishes and other than its current lease token, with
nothing written below it for --grace seconds (src/application/output_cleanup.py). Works on
whichever storage STORAGE_URL names (local folder or S3). Exits 1 when a storage error
stopped part of the work (the videos concerned are listed).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from academy.bootstrap import bootstrap
from academy.cli import seconds_type
from apps.support.video.models import Video
from src.application.output_cleanup import OutputCleanup, OutputRow

# A claim that lost its lease stops within a renewal period; an hour is far past that.
DEFAULT_GRACE_SECONDS = 3600.0
ROWS_PER_QUERY = 500


def output_rows():
    fields = ("id", "tenant_id", "lease_token", "hls_key")
    for vid, tenant_id, token, hls_key in (
        Video.objects.order_by("id").values_list(*fields).iterator(chunk_size=ROWS_PER_QUERY)
    ):
        yield OutputRow(vid, tenant_id, token, hls_key)


class Command(BaseCommand):
    help = "Remove output prefixes left by claims that did not complete."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")
        parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
        parser.add_argument(
            "--grace",
            type=seconds_type(60.0, 30 * 86400.0),
            default=DEFAULT_GRACE_SECONDS,
            metavar="SECONDS",
            help="keep prefixes written to within SECONDS (default 3600, at least 60)",
        )

    def handle(self, *args, **options) -> None:
        storage = bootstrap(settings.CONFIG).storage
        report = OutputCleanup(storage).run(output_rows(), options["grace"], options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict(), sort_keys=True))
        else:
            verb = "would remove" if report.dry_run else "removed"
            self.stdout.write(
                f"{verb} {len(report.removed)} output prefixes"
                + ("" if report.dry_run else f" ({report.objects} objects)")
                + f"; {len(report.kept_recent)} kept (written within the grace period)"
            )
            for prefix in report.removed:
                self.stdout.write(f"  {prefix}")
        if report.errors:
            failed = ", ".join(str(e["video_id"]) for e in report.errors)
            raise CommandError(f"storage errors on videos {failed}", returncode=1)
