"""The direct-upload and query use cases on the fakes: no Django, no HTTP."""

from __future__ import annotations

import io

import pytest

from src.application.direct_upload import API_PUT, MAX_PARTS, DirectUpload, UploadLimits
from src.application.domain import VideoStatus
from src.application.ports.fakes import InMemoryProgress, InMemoryQueue, InMemoryStorage
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.ports.video_repository import VideoFilter
from src.application.video_errors import (
    InvalidVideoRequest,
    InvalidVideoState,
    SourceTooLarge,
    UploadIncomplete,
    VideoNotFound,
)
from src.application.video_queries import FROM_DATABASE, FROM_REDIS, VideoQueries, encode_cursor

TENANT = 7
OTHER = 8


@pytest.fixture
def parts():
    repo = InMemoryVideoRepository()
    storage = InMemoryStorage()
    queue = InMemoryQueue()
    progress = InMemoryProgress()
    uploads = DirectUpload(
        repo,
        storage,
        queue,
        UploadLimits(max_source_bytes=1000, upload_ttl_seconds=60, part_bytes=100),
    )
    return repo, storage, queue, progress, uploads, VideoQueries(repo, progress)


def test_create_receive_complete(parts):
    repo, _storage, queue, _progress, uploads, _queries = parts
    created = uploads.create(TENANT, "Week 1", trace_id="t-1", filename="../a b.mp4")
    assert created.upload.kind == API_PUT  # the fake storage has no presigned URLs
    video = created.video
    assert video.status == VideoStatus.AWAITING_UPLOAD
    assert video.source_key == f"tenants/{TENANT}/videos/{video.id}/source/a_b.mp4"
    uploads.receive_source(TENANT, video.id, io.BytesIO(b"x" * 10))
    done = uploads.complete(TENANT, video.id, request_id="r-1")
    assert done.enqueued and done.video.status == VideoStatus.UPLOADED
    [message] = queue.messages()  # one job message, deliverable at once
    assert (
        message["video_id"],
        message["tenant_id"],
        message["request_id"],
        message["trace_id"],
        message["visible_in"],
    ) == (video.id, TENANT, "r-1", "t-1", 0)
    assert repo.get(video.id).size_bytes == 10


def test_another_tenant_sees_nothing(parts):
    _repo, _storage, _queue, _progress, uploads, queries = parts
    video = uploads.create(TENANT, "mine").video
    with pytest.raises(VideoNotFound):
        queries.get(OTHER, video.id)
    with pytest.raises(VideoNotFound):
        uploads.receive_source(OTHER, video.id, io.BytesIO(b"x"))
    with pytest.raises(VideoNotFound):
        uploads.complete(OTHER, video.id)


def test_limits(parts):
    _repo, storage, _queue, _progress, uploads, _queries = parts
    with pytest.raises(SourceTooLarge):
        uploads.create(TENANT, "huge", size_bytes=1001)
    declared = uploads.create(TENANT, "declared", size_bytes=5).video
    with pytest.raises(SourceTooLarge, match="declared"):
        uploads.receive_source(TENANT, declared.id, io.BytesIO(b"123456"))
    with pytest.raises(SourceTooLarge):
        uploads.receive_source(TENANT, declared.id, io.BytesIO(b"1"), length=6)
    assert storage.objects == {}
    with pytest.raises(UploadIncomplete):
        uploads.complete(TENANT, declared.id)


def test_a_size_needing_too_many_parts_is_refused():
    repo, storage, queue = InMemoryVideoRepository(), InMemoryStorage(), InMemoryQueue()
    uploads = DirectUpload(repo, storage, queue, UploadLimits(10**12, 60, part_bytes=1))
    uploads._part_count(MAX_PARTS)  # exactly the maximum is fine
    with pytest.raises(InvalidVideoRequest):
        uploads._part_count(MAX_PARTS + 1)


def test_one_request_upload_removes_everything_on_failure(parts):
    repo, storage, queue, _progress, uploads, _queries = parts
    with pytest.raises(SourceTooLarge):
        uploads.upload_in_one_request(TENANT, "t", io.BytesIO(b"x" * 1001), filename="a.mp4")
    assert storage.objects == {} and queue.messages() == []
    assert repo.list_videos(VideoFilter(tenant_id=TENANT)) == []


def test_enqueue_failure_leaves_an_uploaded_row(parts):
    repo, _storage, queue, _progress, uploads, _queries = parts

    def broken(*args, **kwargs):
        raise ConnectionError("queue down")

    queue.send = broken
    video = uploads.create(TENANT, "t").video
    uploads.receive_source(TENANT, video.id, io.BytesIO(b"abc"))
    done = uploads.complete(TENANT, video.id)
    assert not done.enqueued and "queue down" in done.enqueue_error
    assert repo.get(video.id).status == VideoStatus.UPLOADED  # reconcile re-sends it


def test_complete_twice_is_invalid_state(parts):
    _repo, _storage, _queue, _progress, uploads, _queries = parts
    video = uploads.create(TENANT, "t").video
    uploads.receive_source(TENANT, video.id, io.BytesIO(b"abc"))
    uploads.complete(TENANT, video.id)
    with pytest.raises(InvalidVideoState):
        uploads.complete(TENANT, video.id)


def test_progress_is_live_while_processing_and_from_the_row_otherwise(parts):
    repo, _storage, _queue, progress, uploads, queries = parts
    video = uploads.create(TENANT, "t").video
    assert queries.get(TENANT, video.id).progress.source == FROM_DATABASE
    uploads.receive_source(TENANT, video.id, io.BytesIO(b"abc"))
    uploads.complete(TENANT, video.id)
    repo.try_claim_video(video.id, "w")
    assert queries.get(TENANT, video.id).progress.step == "starting"
    progress.record_progress(TENANT, video.id, 55.0, "transcode", "w")
    live = queries.get(TENANT, video.id).progress
    assert (live.percent, live.step, live.source) == (55.0, "transcode", FROM_REDIS)
    progress.available = False
    assert queries.get(TENANT, video.id).progress.source == FROM_DATABASE


def test_list_pages(parts):
    _repo, _storage, _queue, _progress, uploads, queries = parts
    ids = [uploads.create(TENANT, f"v{i}").video.id for i in range(3)]
    page = queries.list(TENANT, limit=2)
    assert [v.id for v in page.videos] == [ids[2], ids[1]]
    assert page.next_cursor == encode_cursor(ids[1])
    rest = queries.list(TENANT, limit=2, cursor=page.next_cursor)
    assert [v.id for v in rest.videos] == [ids[0]] and rest.next_cursor is None
    with pytest.raises(InvalidVideoRequest):
        queries.list(TENANT, cursor="garbage")
