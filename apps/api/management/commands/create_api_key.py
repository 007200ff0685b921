"""manage.py create_api_key --tenant SLUG [--name N] [--create-tenant]: print a new API key once.

stdout carries the key alone (its only line), so scripts can capture it; it is never stored or
shown again. Exit 2 for bad arguments or an unknown tenant (nothing created).
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from apps.api.keys.api_keys import issue_key
from apps.api.models import ApiKey
from apps.support.video.models import Tenant

log = structlog.get_logger("apps.api.keys")


class Command(BaseCommand):
    help = "Create an API key for a tenant and print it once (only its HMAC is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
        parser.add_argument("--name", default="", help="what the key is for (shown in admin)")
        parser.add_argument(
            "--create-tenant", action="store_true", help="create the tenant if it does not exist"
        )

    def handle(self, *args, **options) -> None:
        slug = options["tenant"].strip()
        name = options["name"].strip()
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(f"--tenant {slug!r} is not a valid slug", returncode=2) from None
        if len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("--name is longer than 100 characters", returncode=2)
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            if not options["create_tenant"]:
                raise CommandError(
                    f"no tenant has the slug {slug!r} (add --create-tenant to create it)",
                    returncode=2,
                )
            tenant = Tenant.objects.create(slug=slug, name=slug)
        row, key = issue_key(tenant, name, settings.CONFIG.api_key_pepper)
        log.info("API_KEY_CREATED", api_key_id=row.pk, tenant_id=tenant.pk, key_name=name)
        self.stdout.write(key)
