"""cleanup_videos, every part, on file storage and on S3 (moto): prefixes of claims that did
not complete go (the published output, the live claim's prefix and anything written within
the grace period stay); abandoned uploads are aborted (never one an open AWAITING_UPLOAD row
owns); idempotency records and webhook deliveries past retention are deleted; sources of READY
videos past VIDEO_SOURCE_RETENTION_DAYS go (not a newer one's, nor a PROCESSING row's). A dry
run deletes nothing; a storage error on one item is reported (exit 1) and the rest is done."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from academy.adapters.db.django.cleanup_records import DjangoCleanupRecords
from academy.adapters.db.django.repositories_video import DjangoVideoRepository
from apps.api.models import IdempotencyRecord
from apps.support.video.models import Tenant, Video
from apps.support.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from src.application.domain.webhooks import DeliveryStatus
from src.application.output_cleanup import OutputCleanup, OutputRow
from src.application.ports.storage import StorageError
from src.application.storage_keys import job_output_prefix, media_video_prefix, new_media_salt
from src.application.upload_cleanup import UploadCleanup
from src.application.video_commands import VideoCommands
from src.application.video_errors import InvalidVideoState
from src.infrastructure.storage.local_storage import TEMP_PREFIX, LocalStorage
from src.infrastructure.storage.s3_storage import S3Storage
from tests.aws_helpers import moto_bucket

pytestmark = pytest.mark.django_db
HOUR = 3600


def put(storage, tmp_path, key: str) -> None:
    local = tmp_path / "obj"
    local.write_bytes(b"segment")
    storage.put_file(local, key)


def hls(video, token: int, name: str = "master.m3u8") -> str:
    """A file of claim `token`'s output, where a worker writes it now."""
    return f"{job_output_prefix(video.media_salt, token)}/{name}"


def legacy_hls(video, token: int, name: str = "master.m3u8") -> str:
    """The same in the layout before the media salt (`tenants/{t}/videos/{v}/hls/{token}`)."""
    return f"tenants/{video.tenant_id}/videos/{video.id}/hls/{token}/{name}"


def backdate(root, key: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(root / key, (then, then))


@pytest.fixture
def local(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        storage_url=f"file://{root}",
        upload_ttl_seconds=HOUR,
        source_retention_days=None,
    )
    return root, LocalStorage(root)


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 with the bucket `cleanup`; the storage keeps its objects under `media/`."""
    with moto_bucket(monkeypatch, "cleanup") as client:
        yield client, S3Storage(client, "cleanup", prefix="media")


@pytest.fixture
def video():
    tenant = Tenant.objects.create(slug="cleanup", name="Cleanup")
    return Video.objects.create(tenant=tenant, title="lecture")


def run(*args) -> dict:
    out = io.StringIO()
    call_command("cleanup_videos", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def failing_run(*args) -> dict:
    """A run that exits 1: its JSON report is still printed first."""
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("cleanup_videos", "--json", *args, stdout=out)
    assert caught.value.returncode == 1
    return json.loads(out.getvalue())


def source_of(video) -> str:
    return f"tenants/{video.tenant_id}/videos/{video.id}/source/lecture.mp4"


def ready_video(tenant, storage, tmp_path, completed_days_ago: float, status="READY"):
    video = Video.objects.create(tenant=tenant, title="lecture", status=status)
    key = source_of(video)
    put(storage, tmp_path, key)
    Video.objects.filter(pk=video.pk).update(
        source_key=key, processing_completed_at=timezone.now() - timedelta(days=completed_days_ago)
    )
    return video


def temporary_file(root, folder: str, name: str, age_seconds: float) -> str:
    path = root / folder / f"{TEMP_PREFIX}{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half an upload")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return f"{folder}/{path.name}"


def awaiting_upload(tenant, expires_in: timedelta, status: str = "AWAITING_UPLOAD"):
    return Video.objects.create(
        tenant=tenant, title="direct", status=status, upload_expires_at=timezone.now() + expires_in
    )


@pytest.mark.parametrize("layout", [hls, legacy_hls], ids=["media", "legacy"])
def test_dead_claims_go_published_and_live_and_recent_stay(local, video, tmp_path, layout):
    """The same rule in the opaque layout and in the one existing outputs still use."""
    root, storage = local
    # Claim 1 died; claim 2 published (READY row points at it); claim 3 died a minute ago;
    # claim 4 is the row's current lease (a live retry may still be writing).
    for token in (1, 2, 3, 4):
        put(storage, tmp_path, layout(video, token))
        put(storage, tmp_path, layout(video, token, "720p/seg_000.ts"))
    for token in (1, 2, 4):
        backdate(root, layout(video, token), 2 * HOUR)
        backdate(root, layout(video, token, "720p/seg_000.ts"), 2 * HOUR)
    Video.objects.filter(pk=video.pk).update(lease_token=4, hls_key=layout(video, 2))

    def prefix(token: int) -> str:
        return layout(video, token, "")

    planned = run("--dry-run")["outputs"]
    assert planned["removed_prefixes"] == [prefix(1)]
    assert planned["kept_recent"] == [prefix(3)]
    assert storage.exists(layout(video, 1))  # a dry run deletes nothing

    done = run()["outputs"]
    assert done["removed_prefixes"] == [prefix(1)] and done["removed_objects"] == 2
    assert not storage.list_keys(prefix(1))
    for token in (2, 3, 4):
        assert storage.exists(layout(video, token, "720p/seg_000.ts")), token
    assert run()["outputs"]["removed_prefixes"] == []


def test_a_video_published_in_the_legacy_layout_keeps_it_while_new_claims_are_swept(
    local, video, tmp_path
):
    """A row published before the media salt keeps its `tenants/…/hls/N/` output (it is
    still served from its hls_key); dead claims of both layouts go, the live one stays."""
    root, storage = local
    old = [legacy_hls(video, 1), legacy_hls(video, 2), hls(video, 3), hls(video, 4)]
    for key in old:
        put(storage, tmp_path, key)
        backdate(root, key, 2 * HOUR)
    Video.objects.filter(pk=video.pk).update(lease_token=4, hls_key=legacy_hls(video, 2))
    done = run()["outputs"]
    assert sorted(done["removed_prefixes"]) == sorted([hls(video, 3, ""), legacy_hls(video, 1, "")])
    assert storage.exists(legacy_hls(video, 2)) and storage.exists(hls(video, 4))
    # Published in the new layout later: the legacy output is now a dead claim's too.
    Video.objects.filter(pk=video.pk).update(lease_token=5, hls_key=hls(video, 4))
    assert run()["outputs"]["removed_prefixes"] == [legacy_hls(video, 2, "")]
    assert storage.list_keys(f"{job_output_prefix(video.media_salt, 4).rsplit('/', 1)[0]}/") == [
        hls(video, 4)
    ]


def test_another_videos_media_folder_is_never_touched(local, video, tmp_path):
    root, storage = local
    other = Video.objects.create(tenant=video.tenant, title="other")
    for key in (hls(video, 1), hls(other, 1), hls(other, 2)):
        put(storage, tmp_path, key)
        backdate(root, key, 2 * HOUR)
    Video.objects.filter(pk=other.pk).update(lease_token=2, hls_key=hls(other, 1))
    Video.objects.filter(pk=video.pk).update(lease_token=1)
    assert run()["outputs"]["removed_prefixes"] == []  # each row keeps what is its own


def test_a_grace_below_a_minute_is_refused(local):
    with pytest.raises(CommandError):
        call_command("cleanup_videos", "--grace", "5")


def test_s3_dead_claim_prefixes_are_removed(tmp_path, s3):
    client, storage = s3
    salt = new_media_salt()
    row = OutputRow(video_id=7, tenant_id=3, lease_token=9, hls_key="", media_salt=salt)
    legacy = "tenants/3/videos/7/hls"
    for token in (5, 9):
        put(storage, tmp_path, f"{job_output_prefix(salt, token)}/master.m3u8")
        put(storage, tmp_path, f"{legacy}/{token}/master.m3u8")
    dead = [f"{job_output_prefix(salt, 5)}/", f"{legacy}/5/"]
    fresh = OutputCleanup(storage).run([row], grace_seconds=HOUR, dry_run=False)
    assert fresh.removed == [] and fresh.kept_recent == dead
    later = OutputCleanup(storage, clock=lambda: time.time() + 2 * HOUR)
    report = later.run([row], grace_seconds=HOUR, dry_run=False)
    assert report.removed == dead and report.objects == 2
    live = f"{job_output_prefix(salt, 9)}/master.m3u8"
    assert storage.list_keys(f"{media_video_prefix(salt)}/") == [live]
    assert storage.list_keys(f"{legacy}/") == [f"{legacy}/9/master.m3u8"]
    raw = [o["Key"] for o in client.list_objects_v2(Bucket="cleanup")["Contents"]]
    assert sorted(raw) == sorted([f"media/{live}", "media/tenants/3/videos/7/hls/9/master.m3u8"])


def test_json_report_names_every_part(local, video):
    report = run()
    assert set(report) == {
        "dry_run",
        "outputs",
        "uploads",
        "idempotency_records",
        "webhook_deliveries",
        "sources",
        "errors",
    }
    assert report["dry_run"] is False and report["errors"] == []
    assert set(report["outputs"]) == {
        "removed_prefixes",
        "removed_objects",
        "kept_recent",
        "errors",
    }
    assert report["uploads"] == {"aborted": [], "kept_live": [], "errors": []}
    assert report["idempotency_records"] == {"removed": 0}
    assert report["webhook_deliveries"] == {"removed_deliveries": 0, "removed_events": 0}
    assert report["sources"] == {
        "retention_days": None,
        "removed_videos": [],
        "removed_objects": 0,
        "errors": [],
    }


def test_the_text_report_has_one_line_per_part(local, video):
    out = io.StringIO()
    call_command("cleanup_videos", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "outputs",
        "uploads",
        "idempotency records",
        "webhook deliveries",
        "sources",
    ]
    assert lines[-1] == "sources: kept (VIDEO_SOURCE_RETENTION_DAYS is not set)"


def test_abandoned_local_temporary_files_go_live_ones_stay(local, video):
    root, _storage = local
    dead = awaiting_upload(video.tenant, timedelta(hours=-2), status="CANCELED")
    live = awaiting_upload(video.tenant, timedelta(hours=20))
    orphan = temporary_file(root, f"tenants/{video.tenant_id}/videos/999/source", "a", 2 * HOUR)
    canceled = temporary_file(root, f"tenants/{dead.tenant_id}/videos/{dead.id}/source", "b", 7200)
    owned = temporary_file(root, f"tenants/{live.tenant_id}/videos/{live.id}/source", "c", 7200)
    fresh = temporary_file(root, f"tenants/{video.tenant_id}/videos/998/source", "d", 60)

    planned = run("--dry-run")["uploads"]
    assert [u["key"] for u in planned["aborted"]] == sorted([orphan, canceled])
    assert planned["kept_live"] == [owned]
    assert all((root / key).exists() for key in (orphan, canceled, owned, fresh))

    done = run()["uploads"]
    assert done["aborted"] == [{"key": k, "upload_id": ""} for k in sorted([orphan, canceled])]
    assert not (root / orphan).exists() and not (root / canceled).exists()
    assert (root / owned).exists() and (root / fresh).exists()
    assert run()["uploads"]["aborted"] == []


def test_s3_abandoned_multipart_uploads_are_aborted_live_ones_stay(tmp_path, s3, video):
    tenant = video.tenant
    live = awaiting_upload(tenant, timedelta(hours=20))
    expired = awaiting_upload(tenant, timedelta(hours=-1))
    client, storage = s3
    keys = {
        "live": source_of(live),
        "expired": source_of(expired),
        "orphan": f"tenants/{tenant.id}/videos/999/source/lost.mp4",
    }
    ids = {name: storage.start_multipart(key) for name, key in keys.items()}
    # moto answers a fixed `Initiated` in 2010 for every upload: each one here looks old
    # by its start, so what keeps the fresh ones is their newest part (a live transfer).
    for name, key in keys.items():
        client.upload_part(
            Bucket="cleanup", Key=f"media/{key}", UploadId=ids[name], PartNumber=1, Body=b"p"
        )
    # Outside the storage's prefix: another application's upload, never listed.
    client.create_multipart_upload(Bucket="cleanup", Key="other/app.bin")  # no part: "2010"
    records = DjangoCleanupRecords()

    fresh = UploadCleanup(storage, records).run(HOUR, dry_run=False)
    assert (fresh.aborted, fresh.kept_live, fresh.errors) == ([], [], [])

    later = UploadCleanup(storage, records, clock=lambda: time.time() + 2 * HOUR)
    planned = later.run(HOUR, dry_run=True)
    assert planned.kept_live == [keys["live"]]
    assert sorted(u["key"] for u in planned.aborted) == sorted([keys["expired"], keys["orphan"]])
    assert len(client.list_multipart_uploads(Bucket="cleanup")["Uploads"]) == 4

    done = later.run(HOUR, dry_run=False)
    assert {u["upload_id"] for u in done.aborted} == {ids["expired"], ids["orphan"]}
    left = {u["Key"] for u in client.list_multipart_uploads(Bucket="cleanup")["Uploads"]}
    assert left == {f"media/{keys['live']}", "other/app.bin"}


def test_idempotency_records_and_webhook_deliveries_past_retention_go(local, video):
    tenant = video.tenant
    old, new = (
        IdempotencyRecord.objects.create(tenant=tenant, key=k, route="POST /x", fingerprint="f")
        for k in ("old", "new")
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant, url="https://hooks.example.com/", secret="whsec_x"
    )
    long_ago = timezone.now() - timedelta(days=40)
    deliveries = []
    for n, status in enumerate((DeliveryStatus.DELIVERED, DeliveryStatus.PENDING)):
        event = WebhookEvent.objects.create(
            message_id=f"msg_{n}",
            tenant=tenant,
            video_id=video.id,
            type="video.ready",
            occurred_at=long_ago,
            video={},
        )
        deliveries.append(
            WebhookDelivery.objects.create(
                event=event, endpoint=endpoint, tenant=tenant, video_id=video.id, status=status
            )
        )
    WebhookEvent.objects.update(created_at=long_ago)
    WebhookDelivery.objects.filter(pk=deliveries[0].pk).update(finished_at=long_ago)

    planned = run("--dry-run")
    assert planned["idempotency_records"] == {"removed": 1}
    assert planned["webhook_deliveries"] == {"removed_deliveries": 1, "removed_events": 1}
    assert IdempotencyRecord.objects.count() == 2 and WebhookDelivery.objects.count() == 2

    done = run()
    assert done["idempotency_records"] == {"removed": 1}
    assert done["webhook_deliveries"] == {"removed_deliveries": 1, "removed_events": 1}
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [new.pk]
    # The pending delivery stays, whatever its age, and so does its event.
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [deliveries[1].pk]


def test_sources_of_ready_videos_past_retention_go(local, video, settings, tmp_path):
    root, storage = local
    settings.CONFIG = dataclasses.replace(settings.CONFIG, source_retention_days=7)
    tenant = video.tenant
    old = ready_video(tenant, storage, tmp_path, completed_days_ago=10)
    recent = ready_video(tenant, storage, tmp_path, completed_days_ago=2)
    processing = ready_video(tenant, storage, tmp_path, completed_days_ago=10, status="PROCESSING")

    planned = run("--dry-run")["sources"]
    assert (planned["retention_days"], planned["removed_videos"]) == (7, [old.id])
    assert storage.exists(source_of(old))

    done = run()["sources"]
    assert (done["removed_videos"], done["removed_objects"]) == ([old.id], 1)
    assert not storage.exists(source_of(old))
    assert not (root / f"tenants/{tenant.id}/videos/{old.id}/source").exists()
    for kept in (recent, processing):
        assert storage.exists(source_of(kept))
        assert Video.objects.get(pk=kept.pk).source_removed_at is None
    row = Video.objects.get(pk=old.pk)
    assert row.source_removed_at is not None and row.source_key == source_of(old)
    assert run()["sources"]["removed_videos"] == []  # recorded: not tried again
    # READY is final: a redelivered message claims nothing, a retry is refused by name.
    assert DjangoVideoRepository().claim_video(old.id, "worker-late").lease is None
    commands = VideoCommands(DjangoVideoRepository(), storage, queue=None)
    with pytest.raises(InvalidVideoState, match="it is READY"):
        commands.retry(tenant.id, old.id)


def test_s3_sources_past_retention_go_through_the_command(settings, s3, video, tmp_path):
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        storage_url="s3://cleanup/media",
        aws_endpoint_url="",
        aws_region="us-east-1",
        source_retention_days=7,
    )
    _client, storage = s3
    old = ready_video(video.tenant, storage, tmp_path, completed_days_ago=8)
    recent = ready_video(video.tenant, storage, tmp_path, completed_days_ago=6)
    report = run()
    assert report["sources"]["removed_videos"] == [old.id] and report["errors"] == []
    assert not storage.exists(source_of(old)) and storage.exists(source_of(recent))
    assert Video.objects.get(pk=old.pk).source_removed_at is not None


def test_a_storage_error_on_one_item_is_reported_and_the_rest_is_done(
    local, video, settings, tmp_path, monkeypatch
):
    root, storage = local
    settings.CONFIG = dataclasses.replace(settings.CONFIG, source_retention_days=7)
    broken = ready_video(video.tenant, storage, tmp_path, completed_days_ago=10)
    fine = ready_video(video.tenant, storage, tmp_path, completed_days_ago=10)
    put(storage, tmp_path, hls(video, 1))
    backdate(root, hls(video, 1), 2 * HOUR)
    real_delete = LocalStorage.delete_prefix

    def delete_prefix(self, prefix):
        if prefix.startswith(f"tenants/{broken.tenant_id}/videos/{broken.id}/"):
            raise StorageError(f"deleting {prefix} failed: Input/output error")
        return real_delete(self, prefix)

    monkeypatch.setattr(LocalStorage, "delete_prefix", delete_prefix)
    report = failing_run()
    assert [(e["part"], e["video_id"]) for e in report["errors"]] == [("sources", broken.id)]
    assert "Input/output error" in report["errors"][0]["error"]
    assert report["sources"]["removed_videos"] == [fine.id]
    assert report["outputs"]["removed_prefixes"] == [hls(video, 1, "")]
    # The mark is taken back: the next run tries the broken one again.
    assert Video.objects.get(pk=broken.pk).source_removed_at is None
    assert storage.exists(source_of(broken))
    monkeypatch.setattr(LocalStorage, "delete_prefix", real_delete)
    assert run()["sources"]["removed_videos"] == [broken.id]
