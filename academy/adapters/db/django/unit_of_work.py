"""DjangoUnitOfWork: one durable transaction (the outermost, so leaving it means committed)."""

from __future__ import annotations

from django.db import transaction

from academy.adapters.db.django.repositories_tenant import DjangoTenantRepository
from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from src.application.ports.unit_of_work import AbstractUnitOfWork


class DjangoUnitOfWork(AbstractUnitOfWork):
    def __init__(self, videos: DjangoVideoRepository, tenants: DjangoTenantRepository) -> None:
        if videos.using != tenants.using:
            raise ValueError("the repositories of one unit of work share one database")
        self.videos = videos
        self.tenants = tenants
        self.using = videos.using

    def _open(self) -> None:
        # durable: never nested inside someone else's transaction, so the message sent after
        # the block never names a row a worker cannot see yet.
        self._atomic = transaction.atomic(using=self.using, durable=True)
        self._atomic.__enter__()

    def _end(self, commit: bool) -> None:
        if not commit:
            transaction.set_rollback(True, using=self.using)
        self._atomic.__exit__(None, None, None)
