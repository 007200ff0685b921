"""The repository methods behind the HTTP API, one contract on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from src.application.domain import PlaybackPolicy, VideoStatus
from src.application.domain.playback import is_playback_id, new_playback_id
from src.application.ports.video_repository import NewUpload, VideoFilter, VideoResult
from tests.integration.repo_backends import DJANGO_DB, Backend

pytestmark = DJANGO_DB


def _key(tenant_id: int, video_id: int) -> str:
    return f"tenants/{tenant_id}/videos/{video_id}/source/a.mp4"


def awaiting(b: Backend, ttl: int = 3600, **fields):
    return b.repo.create_awaiting_upload(
        NewUpload(tenant_id=b.tenant_id, title="t", upload_ttl_seconds=ttl, **fields), _key
    )


def test_create_awaiting_upload(backend: Backend):
    before = backend.now()
    row = awaiting(
        backend,
        external_id="ext-1",
        metadata={"course": 3},
        trace_id="trace-1",
        declared_size_bytes=500,
    )
    assert row.status == VideoStatus.AWAITING_UPLOAD
    assert row.source_key == _key(backend.tenant_id, row.id)
    assert (row.external_id, row.metadata, row.trace_id, row.declared_size_bytes) == (
        "ext-1",
        {"course": 3},
        "trace-1",
        500,
    )
    assert timedelta(seconds=3590) < row.upload_expires_at - before < timedelta(seconds=3610)
    assert row.uploaded_at is None
    assert backend.repo.get(row.id) == row
    # Not claimable before the bytes are there.
    assert backend.repo.try_claim_video(row.id, "worker-a") is None


def test_mark_uploaded_is_conditional(backend: Backend):
    row = awaiting(backend)
    assert backend.repo.set_upload_id(row.id, "upload-1") is True
    assert backend.repo.get(row.id).upload_id == "upload-1"
    assert backend.repo.mark_uploaded(row.id, 1234) is True
    done = backend.repo.get(row.id)
    assert (done.status, done.size_bytes, done.upload_id, done.upload_expires_at) == (
        VideoStatus.UPLOADED,
        1234,
        "",
        None,
    )
    assert done.uploaded_at is not None
    assert backend.repo.mark_uploaded(row.id, 99) is False
    assert backend.repo.set_upload_id(row.id, "late") is False
    assert backend.repo.get(row.id).size_bytes == 1234
    assert backend.repo.try_claim_video(row.id, "worker-a") is not None


def test_an_expired_upload_cannot_be_marked_uploaded_and_is_expired(backend: Backend):
    row = awaiting(backend, ttl=1)
    fresh = awaiting(backend, ttl=3600)
    import time

    time.sleep(1.3)  # past the 1 s upload TTL on the database clock
    assert backend.repo.mark_uploaded(row.id, 10) is False
    expired = backend.repo.expire_uploads()
    assert [r.id for r in expired] == [row.id]
    assert expired[0].status == VideoStatus.AWAITING_UPLOAD  # the row as it was
    after = backend.repo.get(row.id)
    assert (after.status, after.error_code) == (VideoStatus.CANCELED, "UPLOAD_EXPIRED")
    assert backend.repo.expire_uploads() == []
    assert backend.repo.get(fresh.id).status == VideoStatus.AWAITING_UPLOAD


@pytest.mark.parametrize("start", ["awaiting", "uploaded", "processing"])
def test_cancel_from_every_unfinished_status(backend: Backend, start: str):
    if start == "awaiting":
        video_id = awaiting(backend).id
    elif start == "uploaded":
        video_id = backend.new_video()
    else:
        video_id, lease = backend.claimed_video()
    assert backend.repo.cancel(video_id) is True
    row = backend.repo.get(video_id)
    assert (row.status, row.leased_by, row.leased_until) == (VideoStatus.CANCELED, "", None)
    assert row.processing_completed_at is not None
    assert backend.repo.cancel(video_id) is False
    if start == "processing":
        assert backend.repo.renew_lease(lease) is None  # the worker's next renewal fails


def test_retry_resets_a_failed_or_canceled_video(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert backend.repo.fail(lease, "TRANSCODE_FAILED", "boom", retryable=False)
    assert backend.repo.retry(video_id) is True
    row = backend.repo.get(video_id)
    assert (row.status, row.attempts, row.error_code, row.error_message) == (
        VideoStatus.UPLOADED,
        0,
        "",
        "",
    )
    assert backend.repo.retry(video_id) is False  # UPLOADED: nothing to retry
    again = backend.repo.try_claim_video(video_id, "worker-b")
    assert again is not None and again.attempt == 1
    assert backend.repo.cancel(video_id)
    assert backend.repo.retry(video_id) is True


def test_retry_needs_an_uploaded_source(backend: Backend):
    row = awaiting(backend)
    assert backend.repo.cancel(row.id)
    assert backend.repo.retry(row.id) is False
    assert backend.repo.get(row.id).status == VideoStatus.CANCELED


def test_retry_of_ready_or_processing_is_refused(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert backend.repo.retry(video_id) is False
    assert backend.repo.complete(lease, VideoResult(hls_key="k"))
    assert backend.repo.retry(video_id) is False


def test_delete(backend: Backend):
    video_id = backend.new_video()
    assert backend.repo.delete(video_id) is True
    assert backend.repo.get(video_id) is None
    assert backend.repo.delete(video_id) is False


def test_playback_ids_policies_and_rotation(backend: Backend):
    repo = backend.repo
    row = awaiting(backend, playback_policy=PlaybackPolicy.PUBLIC)
    other = repo.get(backend.new_video())
    assert is_playback_id(row.playback_id) and row.playback_id != other.playback_id
    assert (row.playback_policy, other.playback_policy) == ("public", "signed")
    assert repo.get_by_playback_id(row.playback_id).id == row.id
    assert repo.get_by_playback_id("A" * 24) is None
    assert repo.set_playback(row.id, policy=PlaybackPolicy.SIGNED) is True
    assert repo.get(row.id).playback_policy == PlaybackPolicy.SIGNED
    new_id = new_playback_id()
    assert repo.set_playback(row.id, playback_id=new_id) is True
    assert repo.get_by_playback_id(row.playback_id) is None  # the old id is gone at once
    assert repo.get_by_playback_id(new_id).id == row.id
    assert repo.set_playback(10**9, policy=PlaybackPolicy.PUBLIC) is False


def test_list_videos_newest_first_with_filters(backend: Backend):
    a = awaiting(backend, external_id="ext-a").id
    b = backend.new_video()
    c = awaiting(backend, external_id="ext-c").id
    repo = backend.repo
    t = backend.tenant_id
    assert [r.id for r in repo.list_videos(VideoFilter(tenant_id=t))] == [c, b, a]
    assert [r.id for r in repo.list_videos(VideoFilter(tenant_id=t, limit=2))] == [c, b]
    assert [r.id for r in repo.list_videos(VideoFilter(tenant_id=t, before_id=c))] == [b, a]
    uploaded = repo.list_videos(VideoFilter(tenant_id=t, status=VideoStatus.UPLOADED))
    assert [r.id for r in uploaded] == [b]
    assert [r.id for r in repo.list_videos(VideoFilter(tenant_id=t, external_id="ext-c"))] == [c]
    created_a = repo.get(a).created_at
    later = repo.list_videos(VideoFilter(tenant_id=t, created_after=created_a))
    assert a not in [r.id for r in later]
    assert repo.list_videos(VideoFilter(tenant_id=t + 1000)) == []
