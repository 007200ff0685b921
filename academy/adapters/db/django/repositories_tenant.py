"""DjangoTenantRepository: tenants by slug, created at most once even when two ask at once."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.support.video.models import Tenant
from src.application.ports.tenants import TenantRepository


class DjangoTenantRepository(TenantRepository):
    def __init__(self, using: str = "default") -> None:
        self.using = using

    def id_for_slug(self, slug: str) -> int | None:
        return (
            Tenant.objects.using(self.using).filter(slug=slug).values_list("pk", flat=True).first()
        )

    def ensure(self, slug: str, name: str) -> int:
        found = self.id_for_slug(slug)
        if found is not None:
            return found
        try:
            # A savepoint: a concurrent creation of the same slug must not poison the caller's
            # transaction; the loser reads the winner's row.
            with transaction.atomic(using=self.using):
                return Tenant.objects.using(self.using).create(slug=slug, name=name).pk
        except IntegrityError:
            return Tenant.objects.using(self.using).get(slug=slug).pk
