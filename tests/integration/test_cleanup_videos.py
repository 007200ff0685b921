"""cleanup_videos: prefixes of claims that did not complete go; the published output, the
live claim's prefix and anything written within the grace period stay. File storage through
the command, S3 (moto) through the same use case."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from moto import mock_aws

from apps.support.video.models import Tenant, Video
from src.application.output_cleanup import OutputCleanup, OutputRow
from src.infrastructure.storage.local_storage import LocalStorage
from src.infrastructure.storage.s3_storage import S3Storage

pytestmark = pytest.mark.django_db
HOUR = 3600


def put(storage, tmp_path, key: str) -> None:
    local = tmp_path / "obj"
    local.write_bytes(b"segment")
    storage.put_file(local, key)


def hls(video, token: int, name: str = "master.m3u8") -> str:
    return f"tenants/{video.tenant_id}/videos/{video.id}/hls/{token}/{name}"


def backdate(root, key: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(root / key, (then, then))


@pytest.fixture
def local(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.CONFIG = dataclasses.replace(settings.CONFIG, storage_url=f"file://{root}")
    return root, LocalStorage(root)


@pytest.fixture
def video():
    tenant = Tenant.objects.create(slug="cleanup", name="Cleanup")
    return Video.objects.create(tenant=tenant, title="lecture")


def run(*args) -> dict:
    out = io.StringIO()
    call_command("cleanup_videos", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_dead_claims_go_published_and_live_and_recent_stay(local, video, tmp_path):
    root, storage = local
    # Claim 1 died; claim 2 published (READY row points at it); claim 3 died a minute ago;
    # claim 4 is the row's current lease (a live retry may still be writing).
    for token in (1, 2, 3, 4):
        put(storage, tmp_path, hls(video, token))
        put(storage, tmp_path, hls(video, token, "720p/seg_000.ts"))
    for token in (1, 2, 4):
        backdate(root, hls(video, token), 2 * HOUR)
        backdate(root, hls(video, token, "720p/seg_000.ts"), 2 * HOUR)
    Video.objects.filter(pk=video.pk).update(lease_token=4, hls_key=hls(video, 2))
    prefix = f"tenants/{video.tenant_id}/videos/{video.id}/hls/"

    planned = run("--dry-run")["outputs"]
    assert planned["removed_prefixes"] == [f"{prefix}1/"]
    assert planned["kept_recent"] == [f"{prefix}3/"]
    assert storage.exists(hls(video, 1))  # a dry run deletes nothing

    done = run()["outputs"]
    assert done["removed_prefixes"] == [f"{prefix}1/"] and done["removed_objects"] == 2
    assert not storage.list_keys(f"{prefix}1/")
    for token in (2, 3, 4):
        assert storage.exists(hls(video, token, "720p/seg_000.ts")), token
    assert run()["outputs"]["removed_prefixes"] == []


def test_a_grace_below_a_minute_is_refused(local):
    with pytest.raises(CommandError):
        call_command("cleanup_videos", "--grace", "5")


def test_s3_dead_claim_prefixes_are_removed(tmp_path, monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="cleanup")
        storage = S3Storage(client, "cleanup", prefix="media")
        row = OutputRow(video_id=7, tenant_id=3, lease_token=9, hls_key="")
        base = "tenants/3/videos/7/hls"
        for token in (5, 9):
            put(storage, tmp_path, f"{base}/{token}/master.m3u8")
        fresh = OutputCleanup(storage).run([row], grace_seconds=HOUR, dry_run=False)
        assert fresh.removed == [] and fresh.kept_recent == [f"{base}/5/"]
        later = OutputCleanup(storage, clock=lambda: time.time() + 2 * HOUR)
        report = later.run([row], grace_seconds=HOUR, dry_run=False)
        assert report.removed == [f"{base}/5/"] and report.objects == 1
        assert storage.list_keys(f"{base}/") == [f"{base}/9/master.m3u8"]
        raw = [o["Key"] for o in client.list_objects_v2(Bucket="cleanup")["Contents"]]
        assert raw == ["media/tenants/3/videos/7/hls/9/master.m3u8"]
