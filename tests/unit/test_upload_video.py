"""The upload use case on fakes: one unit of work for the tenant, the row and the source,
and the job message only once it is committed."""

from __future__ import annotations

import pytest

from academy.bootstrap import bootstrap
from src.application.domain import VideoStatus
from src.application.ports.fakes import InMemoryQueue, InMemoryStorage, InMemoryUnitOfWork
from src.application.upload_video import EnqueueFailed, UploadFailed, UploadRejected
from tests.dev_config import dev_config


class DownQueue(InMemoryQueue):
    def send(self, *args, **kwargs) -> str:
        raise ConnectionError("Could not connect to the endpoint URL")


class ShrinkingStorage(InMemoryStorage):
    def size(self, key: str) -> int:
        return super().size(key) - 1  # as if the file changed while it was stored


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "Week 1: intro.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 1000)
    return path


def services(queue=None, storage=None, **env):
    uow = InMemoryUnitOfWork()
    config = dev_config({"VIDEO_MAX_SOURCE_BYTES": "4096", **env})
    return bootstrap(
        config,
        unit_of_work=uow,
        queue=queue or InMemoryQueue(),
        storage=storage or InMemoryStorage(),
    )


def nothing_created(s) -> bool:
    return (
        s.repository.snapshot()[0] == {}
        and s.tenants.tenants == {}
        and s.storage.objects == {}
        and s.queue.messages() == []
    )


def test_an_upload_stores_the_source_records_the_row_then_enqueues(source):
    s = services()
    upload = s.upload_video()(
        source, tenant_slug="academy", create_tenant=True, request_id="r-1", title="Intro"
    )
    row = s.repository.get(upload.video_id)
    assert (row.status, row.title, row.tenant_id) == (VideoStatus.UPLOADED, "Intro", 1)
    key = f"tenants/1/videos/{upload.video_id}/source/Week_1_intro.mp4"
    assert row.source_key == upload.source_key == key
    assert s.storage.objects[key] == source.read_bytes()
    [message] = s.queue.messages()
    assert (message["video_id"], message["tenant_id"], message["request_id"]) == (
        upload.video_id,
        1,
        "r-1",
    )
    assert upload.message_id == message["message_id"]
    assert s.unit_of_work.commits == 1


def test_an_unknown_tenant_is_refused_and_nothing_is_created(source):
    s = services()
    with pytest.raises(UploadRejected, match="unknown tenant 'nobody'"):
        s.upload_video()(source, tenant_slug="nobody", request_id="r-1")
    assert nothing_created(s)


def test_a_failure_after_storing_rolls_back_the_tenant_and_row_and_removes_the_source(source):
    s = services(storage=ShrinkingStorage())
    with pytest.raises(UploadFailed, match="changed meanwhile"):
        s.upload_video()(source, tenant_slug="new", create_tenant=True, request_id="r-1")
    assert nothing_created(s)
    assert s.unit_of_work.commits == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "is empty"), (b"x" * 5000, "is 5000 bytes, more than VIDEO_MAX_SOURCE_BYTES (4096)")],
)
def test_an_unusable_file_is_refused_before_anything_is_written(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    s = services()
    with pytest.raises(UploadRejected) as caught:
        s.upload_video()(path, tenant_slug="academy", create_tenant=True, request_id="r-1")
    assert str(caught.value) == f"{path}: {reason}"
    assert nothing_created(s)


def test_a_queue_outage_leaves_the_committed_row_for_reconcile(source):
    s = services(queue=DownQueue())
    with pytest.raises(EnqueueFailed) as caught:
        s.upload_video()(source, tenant_slug="academy", create_tenant=True, request_id="r-1")
    upload = caught.value.upload
    assert s.repository.get(upload.video_id).status == VideoStatus.UPLOADED
    assert s.storage.exists(upload.source_key)
    assert "ConnectionError" in str(caught.value)


def test_the_unit_of_work_keeps_only_what_was_committed():
    uow = InMemoryUnitOfWork()
    with uow:
        uow.tenants.ensure("kept", "Kept")
        uow.commit()
    with pytest.raises(RuntimeError), uow:
        uow.videos.create_video(uow.tenants.ensure("dropped", "Dropped"))
        uow.commit()
        raise RuntimeError("after commit, before the block ended")
    with uow:
        uow.tenants.ensure("never-committed", "No")
    assert sorted(uow.tenants.tenants) == ["kept"]
    assert uow.videos.snapshot()[0] == {}
