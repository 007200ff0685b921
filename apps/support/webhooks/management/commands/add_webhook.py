"""manage.py add_webhook --tenant SLUG --url URL [--event TYPE …] [--description D] [--disabled]

Adds a webhook endpoint and prints its `whsec_…` secret once (the last stdout line, alone, so
scripts can capture it). Exit 2 for bad arguments, an unknown tenant or a refused URL
(nothing created).
"""

from __future__ import annotations

import structlog
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.support.video.models import Tenant
from apps.support.webhooks.endpoints import create_endpoint
from src.application.domain.webhooks import VideoEventType
from src.application.video_errors import VideoRequestError

log = structlog.get_logger("academy.webhooks")


class Command(BaseCommand):
    help = "Add a webhook endpoint for a tenant and print its signing secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        parser.add_argument("--url", required=True, help="https://… (the endpoint)")
        parser.add_argument(
            "--event",
            action="append",
            dest="events",
            choices=[t.value for t in VideoEventType],
            help="an event type to send (repeat it); every type when omitted",
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--disabled", action="store_true", help="create it disabled")

    def handle(self, *args, **options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"].strip()).first()
        if tenant is None:
            raise CommandError(f"no tenant has the slug {options['tenant']!r}", returncode=2)
        if len(options["description"]) > 200:
            raise CommandError("--description is longer than 200 characters", returncode=2)
        try:
            created = create_endpoint(
                tenant.pk,
                options["url"],
                options["events"],
                enabled=not options["disabled"],
                description=options["description"],
            )
        except VideoRequestError as exc:
            raise CommandError(exc.message, returncode=2) from None
        endpoint = created.endpoint
        log.info("WEBHOOK_ENDPOINT_CREATED", webhook_endpoint_id=endpoint.pk, tenant_id=tenant.pk)
        self.stderr.write(
            f"webhook {endpoint.pk} → {endpoint.url} ({', '.join(endpoint.event_types)}); "
            "its secret, shown once:"
        )
        self.stdout.write(created.secret)
