"""Abandoned direct uploads: reconcile's pass cancels them and removes what they stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.support.video.models import Video
from src.application.reconcile import Reconciler
from tests.integration.api.conftest import ApiHarness

pytestmark = pytest.mark.django_db


def test_reconcile_expires_abandoned_uploads(api: ApiHarness):
    abandoned = api.create(title="never finished")
    api.put_bytes(f"/api/v1/videos/{abandoned['id']}/source", b"half a lecture")
    fresh = api.create(title="still uploading")
    Video.objects.filter(pk=abandoned["id"]).update(
        upload_expires_at=timezone.now() - timedelta(seconds=5)
    )
    adapters = api.services
    reconciler = Reconciler(
        adapters.repository,
        adapters.queue,
        adapters.progress,
        heartbeat_grace_seconds=2,
        reenqueue_after_seconds=600,
        storage=adapters.storage,
    )
    report = reconciler.run_once()
    assert report.expired == [abandoned["id"]] and report.ok
    body = api.get(f"/api/v1/videos/{abandoned['id']}").json()
    assert body["status"] == "CANCELED"
    assert body["error"]["code"] == "UPLOAD_EXPIRED"
    assert [p for p in api.storage_root.rglob("*") if p.is_file()] == []
    assert api.get(f"/api/v1/videos/{fresh['id']}").json()["status"] == "AWAITING_UPLOAD"
    late = api.post_json(f"/api/v1/videos/{abandoned['id']}/upload-complete", {})
    assert late.status_code == 409
    assert reconciler.run_once().expired == []
    assert reconciler.run_once(dry_run=True).expired == []
