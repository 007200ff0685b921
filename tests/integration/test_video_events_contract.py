"""The event outbox, one contract on the fake, SQLite and PostgreSQL: each status change that
commits records exactly its event; a write that does not take effect records none."""

from __future__ import annotations

import contextlib

from django.db import transaction

from src.application.domain import CaptionKind, CaptionStatus, ErrorCode, VideoStatus
from src.application.domain.webhooks import VideoEventType
from src.application.ports.captions import CaptionTrackRecord
from src.application.ports.video_repository import NewUpload, VideoResult
from tests.integration.repo_backends import DJANGO_DB, Backend

pytestmark = DJANGO_DB

P, R, F, C = (
    VideoEventType.PROCESSING,
    VideoEventType.READY,
    VideoEventType.FAILED,
    VideoEventType.CANCELED,
)


def types(b: Backend, video_id: int) -> list[VideoEventType]:
    return [e.type for e in b.repo.events.for_video(video_id)]


def test_claim_and_complete_record_processing_then_ready(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert types(backend, video_id) == [P]
    assert backend.repo.complete(lease, VideoResult(hls_key="k/master.m3u8"))
    events = backend.repo.events.for_video(video_id)
    assert [e.type for e in events] == [P, R]
    ready = events[-1]
    assert (ready.video.status, ready.video.hls_key, ready.tenant_id) == (
        VideoStatus.READY,
        "k/master.m3u8",
        backend.tenant_id,
    )
    assert ready.occurred_at == backend.repo.get(video_id).updated_at
    assert ready.id.startswith("msg_") and ready.id != events[0].id
    # A second complete on the same lease is fenced out, and records nothing.
    assert not backend.repo.complete(lease, VideoResult(hls_key="other"))
    assert types(backend, video_id) == [P, R]


def test_each_claim_records_its_own_processing_event(make_backend):
    b = make_backend(max_attempts=3)
    video_id, lease = b.claimed_video()
    assert b.repo.fail(lease, ErrorCode.STORAGE_FAILED, "blip", retryable=True)  # -> UPLOADED
    assert types(b, video_id) == [P]  # a retryable failure with attempts left is no event
    lease = b.repo.try_claim_video(video_id, "worker-b")
    assert b.repo.try_claim_video(video_id, "worker-c") is None  # lost claim: no event
    assert types(b, video_id) == [P, P]
    assert b.repo.fail(lease, ErrorCode.PROBE_FAILED, "not a video", retryable=False)
    assert types(b, video_id) == [P, P, F]
    assert b.repo.events.for_video(video_id)[-1].video.error_code == ErrorCode.PROBE_FAILED


def test_exhausted_claim_records_failed(make_backend):
    b = make_backend(max_attempts=1)
    video_id, lease = b.claimed_video()
    assert b.repo.fail(lease, ErrorCode.STORAGE_FAILED, "blip", retryable=True)
    assert b.repo.get(video_id).status == VideoStatus.FAILED
    assert types(b, video_id) == [P, F]


def test_cancel_records_canceled_once_and_release_records_nothing(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert backend.repo.release(lease)
    assert types(backend, video_id) == [P]
    assert backend.repo.cancel(video_id)
    assert not backend.repo.cancel(video_id)
    assert types(backend, video_id) == [P, C]


def test_retry_records_nothing_until_the_next_claim(backend: Backend):
    video_id, lease = backend.claimed_video()
    backend.repo.fail(lease, ErrorCode.PROBE_FAILED, "x", retryable=False)
    assert backend.repo.retry(video_id)
    assert types(backend, video_id) == [P, F]
    backend.repo.try_claim_video(video_id, "worker-b")
    assert types(backend, video_id) == [P, F, P]


def test_expired_upload_records_canceled(backend: Backend):
    row = backend.repo.create_awaiting_upload(
        NewUpload(tenant_id=backend.tenant_id, title="t", upload_ttl_seconds=1),
        lambda t, v: f"tenants/{t}/videos/{v}/source/a.mp4",
    )
    import time

    deadline = time.monotonic() + 5
    while not backend.repo.expire_uploads() and time.monotonic() < deadline:
        time.sleep(0.1)  # the database clock passes the 1 s expiry
    assert types(backend, row.id) == [C]
    assert backend.repo.events.for_video(row.id)[0].video.error_code == ErrorCode.UPLOAD_EXPIRED


def test_a_caption_event_keeps_the_track_it_is_about(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert backend.repo.complete(lease, VideoResult(hls_key="k/master.m3u8"))
    video = backend.repo.get(video_id)
    track = CaptionTrackRecord(
        id=41,
        video_id=video_id,
        tenant_id=backend.tenant_id,
        kind=CaptionKind.AUTO,
        status=CaptionStatus.FAILED,
        language="en",
        error_code=ErrorCode.TRANSCRIBE_FAILED,
        error_message="the model broke",
        attempts=3,
        stage_timings_ms={"audio": 120},
        created_at=video.created_at,
        updated_at=video.updated_at,
    )
    change = transaction.atomic(using=backend.alias) if backend.alias else contextlib.nullcontext()
    with change:  # recorded in the transaction of the track's change, as the repository does
        backend.repo.events.record(video, VideoEventType.CAPTIONS_FAILED, track)
    *_, failed = backend.repo.events.for_video(video_id)
    assert failed.type == VideoEventType.CAPTIONS_FAILED
    assert failed.track == track and failed.video == video
    assert [e.track for e in backend.repo.events.for_video(video_id)[:-1]] == [None, None]
