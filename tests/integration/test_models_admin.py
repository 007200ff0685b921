"""Operators' view of the rows: the admin, and the indexes reconcile's queries rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now
from django.utils import timezone

from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from apps.support.video.models import Tenant, Video
from src.application.domain import VideoStatus

# Enough rows that a sequential scan is not the obvious plan; few enough to insert in a blink.
ROWS_PER_STATUS = {"READY": 4000, "FAILED": 300, "UPLOADED": 40, "PROCESSING": 40}


def test_tenant_and_video_are_in_the_admin():
    registry = admin.site._registry
    assert Tenant in registry
    video_admin = registry[Video]
    for column in ("status", "tenant", "leased_by", "attempts"):
        assert column in video_admin.list_display
    for column in ("status", "tenant", "attempts"):
        assert column in video_admin.list_filter


def test_the_model_offers_exactly_the_domain_statuses():
    # One definition: a status added to the domain appears in the model (and needs a migration).
    assert Video.Status.choices == [(s.value, s.label) for s in VideoStatus]
    assert Video._meta.get_field("status").choices == Video.Status.choices
    assert Video._meta.get_field("status").max_length >= max(len(s) for s in VideoStatus)
    assert Video.Status.AWAITING_UPLOAD.label == "Awaiting upload"


@pytest.mark.django_db
def test_every_domain_status_survives_a_round_trip_through_the_row():
    tenant = Tenant.objects.create(slug="status-round-trip", name="Statuses")
    repo = DjangoVideoRepository()
    for status in VideoStatus:
        video = Video.objects.create(tenant=tenant, status=status)
        record = repo.get(video.pk)
        assert record.status is status


@pytest.fixture
def many_videos() -> None:
    """A realistic mix: mostly finished videos, a few in flight, some leases long expired."""
    tenant = Tenant.objects.create(slug="big-academy", name="Big academy")
    now = timezone.now()
    rows = []
    for status, count in ROWS_PER_STATUS.items():
        for i in range(count):
            leased = status == "PROCESSING"
            rows.append(
                Video(
                    tenant=tenant,
                    status=status,
                    leased_by=f"worker-{i % 7}" if leased else "",
                    # Half the leases expired an hour ago, half run for another hour.
                    leased_until=now + timedelta(hours=1 if i % 2 else -1) if leased else None,
                )
            )
    Video.objects.bulk_create(rows, batch_size=1000)
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {Video._meta.db_table}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reconcile_queries_use_the_partial_indexes(many_videos):
    assert connection.vendor == "postgresql"
    expired = Video.objects.filter(status="PROCESSING", leased_until__lt=Now())
    stale_cutoff = ExpressionWrapper(Now() - timedelta(seconds=600), output_field=DateTimeField())
    stale = Video.objects.filter(status="UPLOADED", updated_at__lt=stale_cutoff)

    # No enable_seqscan=off: with fresh statistics the planner must choose the index itself.
    expired_plan = expired.explain()
    stale_plan = stale.explain()
    print(f"\n[expired leases]\n{expired_plan}\n[stale uploads]\n{stale_plan}")
    assert "video_processing_lease_idx" in expired_plan
    assert "video_uploaded_updated_idx" in stale_plan
    assert expired.count() == ROWS_PER_STATUS["PROCESSING"] // 2
