"""ProcessVideo with fakes: a failed publish leaves in storage nothing that a row does not name."""

from __future__ import annotations

import dataclasses

import pytest

from src.application.domain import ErrorCode, JobStopped, StopReason, VideoProcessingError
from src.application.job_control import JobControl
from src.application.ports.fakes import FakeTranscoder, InMemoryStorage
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.process_video import ProcessVideo
from src.application.storage_keys import media_video_prefix

SOURCE = b"source bytes"


def _claimed(repo, storage):
    video_id = repo.create_video(7, "lecture")
    key = f"tenants/7/videos/{video_id}/source/lecture.mp4"
    storage.objects[key] = SOURCE
    repo.set_source_key(video_id, key)
    return repo.try_claim_video(video_id, "worker-a")


def _outputs(storage, lease):
    return storage.list_keys(media_video_prefix(lease.media_salt) + "/")


def _run(tmp_path, repo, storage, lease):
    process = ProcessVideo(repo, storage, FakeTranscoder(), tmp_path / "work")
    return process(lease, lambda *_: None, JobControl())


def test_a_publish_cut_short_by_a_full_storage_leaves_nothing(tmp_path):
    # Room for the source and one output file: the second one fails. Before: the first
    # stayed under the claim's prefix, at the public key layout, once per attempt.
    storage = InMemoryStorage(capacity_bytes=len(SOURCE) + 40)
    repo = InMemoryVideoRepository()
    lease = _claimed(repo, storage)
    with pytest.raises(VideoProcessingError) as caught:
        _run(tmp_path, repo, storage, lease)
    assert caught.value.code == ErrorCode.NO_SPACE_LEFT
    assert _outputs(storage, lease) == []
    assert list((tmp_path / "work").iterdir()) == []


def test_a_claim_fenced_out_at_complete_leaves_nothing(tmp_path):
    storage, repo = InMemoryStorage(), InMemoryVideoRepository()
    lease = _claimed(repo, storage)
    repo.try_reclaim_video(lease.video_id, force=True)  # an operator took the video back
    with pytest.raises(JobStopped) as caught:
        _run(tmp_path, repo, storage, lease)
    assert caught.value.reason == StopReason.LEASE_LOST
    assert _outputs(storage, lease) == []


def test_a_complete_without_an_answer_keeps_what_the_row_may_name(tmp_path):
    storage, repo = InMemoryStorage(), InMemoryVideoRepository()
    lease = _claimed(repo, storage)

    def complete_then_lose_the_connection(lease_, result):
        InMemoryVideoRepository.complete(repo, lease_, result)
        raise ConnectionError("server closed the connection unexpectedly")

    repo.complete = complete_then_lose_the_connection
    with pytest.raises(ConnectionError):
        _run(tmp_path, repo, storage, lease)
    row = repo.get(lease.video_id)
    assert row.status == "READY" and row.hls_key in storage.objects  # still playable


def test_the_row_gets_the_size_a_viewer_sees_not_the_coded_one(tmp_path):
    class PhoneTranscoder(FakeTranscoder):  # coded 640x360, shown turned a quarter
        def transcode(self, *args, **kwargs):
            output = super().transcode(*args, **kwargs)
            probe = dataclasses.replace(output.probe, display_width=360, display_height=640)
            return dataclasses.replace(output, probe=probe)

    storage, repo = InMemoryStorage(), InMemoryVideoRepository()
    lease = _claimed(repo, storage)
    ProcessVideo(repo, storage, PhoneTranscoder(), tmp_path / "work")(
        lease, lambda *_: None, JobControl()
    )
    row = repo.get(lease.video_id)
    assert (row.status, row.width, row.height) == ("READY", 360, 640)


def test_a_published_job_keeps_its_outputs(tmp_path):
    storage, repo = InMemoryStorage(), InMemoryVideoRepository()
    lease = _claimed(repo, storage)
    outcome = _run(tmp_path, repo, storage, lease)
    assert outcome.hls_key in _outputs(storage, lease)
