"""manage.py prune_idempotency_keys: delete Idempotency-Key records older than 24 hours.

Reconcile's loop does the same once a minute; this command is for deployments that run it
from cron instead, or to clean up at once.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.api.keys.idempotency import RETENTION, prune


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than 24 hours (their retention)."

    def handle(self, *args, **options) -> None:
        deleted = prune()
        hours = int(RETENTION.total_seconds() // 3600)
        self.stdout.write(f"pruned {deleted} idempotency record(s) older than {hours} hours")
