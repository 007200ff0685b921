"""manage.py revoke_api_key PREFIX_OR_KEY: the key stops working at once (401 from then on)."""

from __future__ import annotations

import structlog
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.api.keys.api_keys import KeyRejected, revoke

log = structlog.get_logger("apps.api.keys")


class Command(BaseCommand):
    help = "Revoke an API key, given its prefix (as shown in admin) or the whole key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="the key's prefix (12 hex characters) or the key itself")

    def handle(self, *args, **options) -> None:
        try:
            row = revoke(options["key"].strip())
        except KeyRejected:
            raise CommandError(
                "that is neither a key prefix nor an API key", returncode=2
            ) from None
        if row is None:
            raise CommandError("no API key has that prefix", returncode=2)
        log.info("API_KEY_REVOKED", api_key_id=row.pk, tenant_id=row.tenant_id)
        self.stdout.write(f"revoked {row.prefix} ({row.tenant.slug})")
