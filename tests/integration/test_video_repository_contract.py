"""One contract for the video repository port, run against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from django.conf import settings

from src.application.domain import ErrorCode, VideoStatus, exhausted_message
from src.application.ports.video_repository import VideoFilter, VideoResult
from tests.integration.repo_backends import (
    DJANGO_DB,
    SHORT_LEASE_SECONDS,
    Backend,
    BackendFactory,
    fenced_writes,
    wait_past_short_lease,
)

pytestmark = DJANGO_DB

UNKNOWN_ID = 987_654_321
RESULT = VideoResult(
    hls_key="tenants/1/videos/1/hls/master.m3u8",
    thumbnail_key="tenants/1/videos/1/thumbnail.jpg",
    duration_seconds=12.5,
    width=1280,
    height=720,
    size_bytes=123_456,
    renditions=[{"name": "720p", "bandwidth": 2_800_000}, {"name": "360p", "bandwidth": 800_000}],
    stage_timings_ms={"probe": 40, "transcode": 9000, "upload": 300},
)


def test_create_and_get(backend: Backend):
    video_id = backend.new_video(title="Week 1", source_key="tenants/x/source/a.mp4")
    row = backend.repo.get(video_id)
    assert row is not None
    assert (row.id, row.tenant_id, row.title) == (video_id, backend.tenant_id, "Week 1")
    assert row.status == VideoStatus.UPLOADED
    assert row.source_key == "tenants/x/source/a.mp4"
    assert (row.leased_by, row.leased_until, row.lease_token, row.attempts) == ("", None, 0, 0)
    assert backend.repo.get(UNKNOWN_ID) is None


def test_set_source_key_only_while_uploaded(backend: Backend):
    video_id = backend.new_video()
    assert backend.repo.set_source_key(video_id, "tenants/x/source/b.mp4") is True
    lease = backend.repo.try_claim_video(video_id, "worker-a")
    assert lease is not None and lease.source_key == "tenants/x/source/b.mp4"
    assert backend.repo.set_source_key(video_id, "tenants/x/source/other.mp4") is False
    assert backend.repo.set_source_key(UNKNOWN_ID, "anything") is False
    assert backend.repo.get(video_id).source_key == "tenants/x/source/b.mp4"


def test_claim_returns_a_lease_on_the_database_clock(backend: Backend):
    video_id = backend.new_video()
    before = backend.now()
    lease = backend.repo.try_claim_video(video_id, "worker-a", lease_seconds=60)
    assert lease is not None
    assert (lease.video_id, lease.tenant_id, lease.worker_id) == (
        video_id,
        backend.tenant_id,
        "worker-a",
    )
    assert (lease.token, lease.attempt) == (1, 1)
    assert lease.expires_at > backend.now()
    # now() + 60 s on the same clock: allow for the time the call itself took.
    assert timedelta(seconds=59) < lease.expires_at - before < timedelta(seconds=65)
    row = backend.repo.get(video_id)
    assert row.status == VideoStatus.PROCESSING
    assert (row.leased_by, row.leased_until, row.lease_token, row.attempts) == (
        "worker-a",
        lease.expires_at,
        1,
        1,
    )
    assert row.processing_started_at is not None


def test_claim_uses_the_default_lease_length(make_backend: BackendFactory):
    backend = make_backend(lease_seconds=45)
    _, lease = backend.claimed_video()
    remaining = lease.expires_at - backend.now()
    assert timedelta(seconds=40) < remaining <= timedelta(seconds=45)


def test_second_claim_loses(backend: Backend):
    video_id, lease = backend.claimed_video("worker-a")
    assert backend.repo.try_claim_video(video_id, "worker-b") is None
    assert backend.repo.try_claim_video(video_id, "worker-a") is None
    row = backend.repo.get(video_id)
    assert (row.leased_by, row.lease_token, row.attempts) == ("worker-a", lease.token, 1)


def test_claim_of_unknown_video_is_none(backend: Backend):
    assert backend.repo.try_claim_video(UNKNOWN_ID, "worker-a") is None
    assert backend.repo.get(UNKNOWN_ID) is None


@pytest.mark.parametrize("final", [VideoStatus.READY, VideoStatus.FAILED, VideoStatus.CANCELED])
def test_claim_of_a_finished_video_is_none(backend: Backend, final: VideoStatus):
    video_id, lease = backend.claimed_video()
    if final == VideoStatus.READY:
        assert backend.repo.complete(lease, RESULT)
    elif final == VideoStatus.FAILED:
        assert backend.repo.fail(lease, ErrorCode.UNSUPPORTED_MEDIA, "not a video", retryable=False)
    else:
        assert backend.repo.cancel(video_id)
    before = backend.repo.get(video_id)
    assert before.status == final
    assert backend.repo.try_claim_video(video_id, "worker-b") is None
    after = backend.repo.get(video_id)
    assert (after.status, after.leased_by, after.lease_token, after.attempts) == (
        final,
        "",
        before.lease_token,
        before.attempts,
    )


def test_renew_pushes_the_expiry(backend: Backend):
    video_id, lease = backend.claimed_video(lease_seconds=10)
    renewed = backend.repo.renew_lease(lease, 300)
    assert renewed is not None
    assert renewed.expires_at > lease.expires_at + timedelta(seconds=280)
    assert renewed.expires_at > backend.now() + timedelta(seconds=280)
    assert (renewed.token, renewed.worker_id, renewed.attempt) == (
        lease.token,
        lease.worker_id,
        lease.attempt,
    )
    row = backend.repo.get(video_id)
    assert (row.status, row.leased_until) == (VideoStatus.PROCESSING, renewed.expires_at)
    # The renewed lease is the same lease: it still completes.
    assert backend.repo.complete(renewed, RESULT)


def test_complete_writes_the_result_and_clears_the_lease(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert backend.repo.complete(lease, RESULT) is True
    row = backend.repo.get(video_id)
    assert row.status == VideoStatus.READY
    assert (row.leased_by, row.leased_until) == ("", None)
    assert (row.error_code, row.error_message) == ("", "")
    assert (row.hls_key, row.thumbnail_key) == (RESULT.hls_key, RESULT.thumbnail_key)
    assert (row.duration_seconds, row.width, row.height) == (12.5, 1280, 720)
    assert row.size_bytes == RESULT.size_bytes
    assert row.renditions == RESULT.renditions
    assert row.stage_timings_ms == RESULT.stage_timings_ms
    assert row.processing_completed_at is not None
    assert row.processing_completed_at >= row.processing_started_at
    # Completing twice is a fenced write like any other: the lease is gone.
    assert backend.repo.complete(lease, VideoResult(hls_key="again")) is False
    assert backend.repo.get(video_id).hls_key == RESULT.hls_key


@pytest.mark.parametrize(
    ("retryable", "status"), [(True, VideoStatus.UPLOADED), (False, VideoStatus.FAILED)]
)
def test_fail_with_attempts_left(backend: Backend, retryable: bool, status: VideoStatus):
    """Retryable: back to UPLOADED, the attempt counted and the error kept. Otherwise final."""
    video_id, lease = backend.claimed_video()
    assert backend.repo.fail(
        lease, ErrorCode.STORAGE_FAILED, "S3 read timed out", retryable=retryable
    )
    row = backend.repo.get(video_id)
    assert row.status == status
    assert (row.error_code, row.error_message) == (ErrorCode.STORAGE_FAILED, "S3 read timed out")
    assert (row.leased_by, row.leased_until, row.attempts) == ("", None, 1)
    assert (row.processing_completed_at is not None) == (not retryable)
    again = backend.repo.try_claim_video(video_id, "worker-b")
    if retryable:
        assert again is not None and (again.attempt, again.token) == (2, 2)
    else:
        assert again is None


def test_retryable_failure_on_the_last_attempt_is_max_attempts_exceeded(
    make_backend: BackendFactory,
):
    backend = make_backend(max_attempts=1)
    video_id, lease = backend.claimed_video()
    assert backend.repo.fail(lease, ErrorCode.STORAGE_FAILED, "S3 read timed out", retryable=True)
    row = backend.repo.get(video_id)
    assert (row.status, row.error_code) == (VideoStatus.FAILED, ErrorCode.MAX_ATTEMPTS_EXCEEDED)
    assert (
        row.error_message == "attempts exhausted (1); last error: STORAGE_FAILED: S3 read timed out"
    )
    assert backend.repo.try_claim_video(video_id, "worker-b") is None


def test_release_returns_the_video_without_counting_the_attempt(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert backend.repo.release(lease) is True
    row = backend.repo.get(video_id)
    assert row.status == VideoStatus.UPLOADED
    assert (row.leased_by, row.leased_until, row.attempts) == ("", None, 0)
    again = backend.repo.try_claim_video(video_id, "worker-b")
    assert again is not None and (again.attempt, again.token) == (1, 2)


def test_release_can_record_why_without_counting_the_attempt(backend: Backend):
    video_id, lease = backend.claimed_video()
    assert backend.repo.release(lease, ErrorCode.NO_SPACE_LEFT, "work folder full")
    row = backend.repo.get(video_id)
    assert (row.status, row.attempts) == (VideoStatus.UPLOADED, 0)
    assert (row.error_code, row.error_message) == (ErrorCode.NO_SPACE_LEFT, "work folder full")
    assert backend.repo.release(lease, ErrorCode.NO_SPACE_LEFT, "again") is False  # fenced


def test_cancel(backend: Backend):
    waiting = backend.new_video()
    assert backend.repo.cancel(waiting) is True
    assert backend.repo.get(waiting).status == VideoStatus.CANCELED

    running, lease = backend.claimed_video()
    assert backend.repo.cancel(running) is True
    row = backend.repo.get(running)
    assert (row.status, row.leased_by, row.leased_until) == (VideoStatus.CANCELED, "", None)
    # The worker notices at its next renewal, and cannot overwrite the cancel.
    assert backend.repo.renew_lease(lease) is None
    assert backend.repo.complete(lease, RESULT) is False
    assert backend.repo.get(running).status == VideoStatus.CANCELED

    assert backend.repo.cancel(running) is False
    assert backend.repo.cancel(UNKNOWN_ID) is False
    _, done = backend.claimed_video()
    assert backend.repo.complete(done, RESULT)
    assert backend.repo.cancel(done.video_id) is False
    assert backend.repo.get(done.video_id).status == VideoStatus.READY


def test_reclaim_only_after_the_lease_expired(backend: Backend):
    video_id, _ = backend.claimed_video(lease_seconds=SHORT_LEASE_SECONDS)
    assert backend.repo.try_reclaim_video(video_id) is False
    assert backend.repo.get(video_id).status == VideoStatus.PROCESSING
    wait_past_short_lease()
    assert backend.repo.try_reclaim_video(video_id) is True
    row = backend.repo.get(video_id)
    assert (row.status, row.leased_by, row.leased_until) == (VideoStatus.UPLOADED, "", None)
    assert row.attempts == 1  # the crashed attempt counts
    assert backend.repo.try_reclaim_video(video_id) is False  # UPLOADED: nothing to reclaim
    assert backend.repo.try_reclaim_video(UNKNOWN_ID) is False


def test_forced_reclaim_takes_a_live_lease(backend: Backend):
    video_id, lease = backend.claimed_video(lease_seconds=300)
    assert backend.repo.try_reclaim_video(video_id) is False
    assert backend.repo.try_reclaim_video(video_id, force=True) is True
    row = backend.repo.get(video_id)
    assert (row.status, row.leased_by, row.leased_until) == (VideoStatus.UPLOADED, "", None)
    assert backend.repo.renew_lease(lease) is None
    assert backend.repo.try_reclaim_video(video_id, force=True) is False


def test_list_processing_shows_expired_leases_first(backend: Backend):
    live, _ = backend.claimed_video("worker-live", lease_seconds=300)
    expired, expired_lease = backend.claimed_video("worker-dead", lease_seconds=SHORT_LEASE_SECONDS)
    backend.new_video()  # UPLOADED: not listed
    _, done = backend.claimed_video()
    assert backend.repo.complete(done, RESULT)  # READY: not listed
    wait_past_short_lease()
    rows = backend.repo.list_processing()
    assert [(r.video_id, r.lease_expired) for r in rows] == [(expired, True), (live, False)]
    first = rows[0]
    assert (first.tenant_id, first.leased_by, first.lease_token) == (
        backend.tenant_id,
        "worker-dead",
        expired_lease.token,
    )
    assert first.seconds_since_started >= SHORT_LEASE_SECONDS
    assert [r.video_id for r in backend.repo.list_processing(limit=1)] == [expired]


def test_list_stale_uploaded_returns_only_old_uploaded_rows(backend: Backend):
    old = backend.new_video()
    processing, _ = backend.claimed_video()
    canceled = backend.new_video()
    assert backend.repo.cancel(canceled)
    wait_past_short_lease()
    backend.new_video()  # UPLOADED but recent
    stale = backend.repo.list_stale_uploaded(SHORT_LEASE_SECONDS)
    assert [r.id for r in stale] == [old]
    assert stale[0].status == VideoStatus.UPLOADED
    assert backend.repo.list_stale_uploaded(3600) == []
    assert processing not in {r.id for r in stale}


def test_lease_token_grows_by_one_on_every_claim(make_backend: BackendFactory):
    backend = make_backend(max_attempts=10)
    repo = backend.repo
    video_id = backend.new_video()
    tokens = []

    def claim():
        lease = repo.try_claim_video(video_id, f"worker-{len(tokens)}")
        assert lease is not None
        tokens.append(lease.token)
        assert repo.get(video_id).lease_token == lease.token
        return lease

    assert repo.release(claim())
    assert repo.fail(claim(), ErrorCode.STORAGE_FAILED, "retry", retryable=True)
    claim()
    assert repo.try_reclaim_video(video_id, force=True)
    assert repo.complete(claim(), RESULT)
    assert tokens == [1, 2, 3, 4]


def test_every_video_has_its_own_secret_media_salt_carried_by_its_leases(
    make_backend: BackendFactory,
):
    """The salt the output folders derive from: one per video, the same for all its claims,
    in every lease (renewed ones too) and never in the record (stored with webhook events)."""
    backend = make_backend(max_attempts=10)
    repo = backend.repo
    first, second = backend.new_video(), backend.new_video()
    salt = repo.media_salt(first)
    assert re.fullmatch(r"[0-9a-f]{64}", salt)
    assert repo.media_salt(second) != salt
    assert repo.media_salt(UNKNOWN_ID) == ""
    lease = repo.try_claim_video(first, "worker-a")
    assert lease.media_salt == salt and salt not in repr(lease)
    assert repo.renew_lease(lease, 60).media_salt == salt
    assert repo.release(lease)
    assert repo.try_claim_video(first, "worker-b").media_salt == salt  # every claim
    record = repo.get(first)
    assert salt not in repr(record) and salt not in str(dataclasses.asdict(record))
    assert repo.delete(second) and repo.media_salt(second) == ""


def test_fencing_a_worker_that_lost_its_lease(backend: Backend):
    repo = backend.repo
    video_id, lease_a = backend.claimed_video("worker-a", lease_seconds=SHORT_LEASE_SECONDS)
    wait_past_short_lease()
    assert repo.try_reclaim_video(video_id) is True
    lease_b = repo.try_claim_video(video_id, "worker-b", lease_seconds=300)
    assert lease_b is not None and lease_b.token == lease_a.token + 1

    rejected = fenced_writes(repo, lease_a)
    assert rejected == {"renew_lease": None, "complete": False, "fail": False, "release": False}
    row = repo.get(video_id)
    assert (row.status, row.leased_by, row.lease_token) == (
        VideoStatus.PROCESSING,
        "worker-b",
        lease_b.token,
    )
    assert (row.leased_until, row.attempts, row.hls_key, row.error_code) == (
        lease_b.expires_at,
        2,
        "",
        "",
    )

    assert repo.complete(lease_b, VideoResult(hls_key="from-worker-b/master.m3u8"))
    row = repo.get(video_id)
    assert (row.status, row.hls_key) == (VideoStatus.READY, "from-worker-b/master.m3u8")
    assert fenced_writes(repo, lease_a) == rejected
    assert repo.get(video_id).hls_key == "from-worker-b/master.m3u8"


def test_fencing_the_same_worker_after_a_reclaim(backend: Backend):
    """The token, not the worker id, fences: a worker's own older lease is rejected too."""
    repo = backend.repo
    video_id, old = backend.claimed_video("worker-a")
    assert repo.try_reclaim_video(video_id, force=True)
    new = repo.try_claim_video(video_id, "worker-a")
    assert new is not None and new.token == old.token + 1
    assert repo.renew_lease(old) is None
    assert repo.complete(old, VideoResult(hls_key="stale")) is False
    assert repo.fail(old, ErrorCode.INTERNAL_ERROR, "stale", retryable=False) is False
    assert repo.release(old) is False
    assert repo.get(video_id).status == VideoStatus.PROCESSING
    assert repo.complete(new, RESULT)
    assert repo.get(video_id).hls_key == RESULT.hls_key


@pytest.mark.parametrize("after_each_claim", ["retryable_fail", "reclaim"])
def test_attempts_run_out_after_max_attempts(make_backend: BackendFactory, after_each_claim: str):
    max_attempts = settings.CONFIG.max_attempts  # VIDEO_MAX_ATTEMPTS
    backend = make_backend(max_attempts=max_attempts)
    repo = backend.repo
    video_id = backend.new_video()
    for attempt in range(1, max_attempts + 1):
        lease = repo.try_claim_video(video_id, f"worker-{attempt}")
        assert lease is not None and lease.attempt == attempt
        if after_each_claim == "reclaim":
            assert repo.try_reclaim_video(video_id, force=True)
        else:
            assert repo.fail(lease, ErrorCode.STORAGE_FAILED, f"try {attempt}", retryable=True)
    if after_each_claim == "reclaim":
        # Nothing has failed yet: the claim that would pass the limit is what gives up.
        row = repo.get(video_id)
        assert (row.status, row.attempts) == (VideoStatus.UPLOADED, max_attempts)
    assert repo.try_claim_video(video_id, "worker-last") is None
    row = repo.get(video_id)
    assert (row.status, row.error_code) == (VideoStatus.FAILED, ErrorCode.MAX_ATTEMPTS_EXCEEDED)
    last = (
        "none recorded" if after_each_claim == "reclaim" else f"STORAGE_FAILED: try {max_attempts}"
    )
    assert row.error_message == f"attempts exhausted ({max_attempts}); last error: {last}"
    assert (row.attempts, row.lease_token, row.leased_by) == (max_attempts, max_attempts, "")
    assert repo.try_claim_video(video_id, "worker-later") is None


def test_a_claim_past_the_limit_names_the_last_recorded_error(make_backend: BackendFactory):
    # The fake and the database word the exhausted message identically, to the byte.
    backend = make_backend(max_attempts=2)
    repo = backend.repo
    video_id = backend.new_video()
    assert repo.fail(repo.try_claim_video(video_id, "w1"), ErrorCode.STORAGE_FAILED, "slow", True)
    assert repo.try_claim_video(video_id, "w2") is not None
    assert repo.try_reclaim_video(video_id, force=True)  # the second worker died
    assert repo.try_claim_video(video_id, "w3") is None
    row = repo.get(video_id)
    assert (row.status, row.error_code) == (VideoStatus.FAILED, ErrorCode.MAX_ATTEMPTS_EXCEEDED)
    assert row.error_message == exhausted_message(2, ErrorCode.STORAGE_FAILED, "slow")
    assert row.error_message == "attempts exhausted (2); last error: STORAGE_FAILED: slow"
    assert row.processing_completed_at is not None


def test_only_a_database_error_counts_as_the_store_failing(backend: Backend):
    from django.db import OperationalError

    # The worker's loop asks after an error outside a job: a database outage means backing
    # off and reconnecting, anything else is an ordinary error.
    is_django = backend.alias is not None
    assert backend.repo.recover_from(OperationalError("server closed the connection")) is is_django
    assert backend.repo.recover_from(ValueError("not the database")) is False
    video_id = backend.new_video()  # the repository works on after dropping its connections
    assert backend.repo.get(video_id).status == VideoStatus.UPLOADED


def test_list_only_the_given_ids_of_the_tenant(backend: Backend):
    first, _second, third = (backend.new_video(title=f"v{n}") for n in range(3))
    query = VideoFilter(tenant_id=backend.tenant_id, limit=10, ids=(first, third, UNKNOWN_ID))
    assert [v.id for v in backend.repo.list_videos(query)] == [third, first]
    other = VideoFilter(tenant_id=backend.tenant_id + 1, limit=10, ids=(first,))
    assert backend.repo.list_videos(other) == []
