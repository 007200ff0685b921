"""Full disks, for real: the worker's work folder or the media storage on a small tmpfs.

A full disk is the machine's problem: the video goes back to UPLOADED as NO_SPACE_LEFT
without spending an attempt, its message comes back after the backoff, and a worker whose
work folder has no room takes no job until it has.
"""

from __future__ import annotations

import pytest

from apps.support.video.models import Video
from tests.e2e.harness import worker_args
from tests.filesystems import fill, tmpfs
from tests.media import run_ffmpeg

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def compact_clip(path):
    """10 s of 640x360 in about 400 KB: it fits a 640 KB work folder, it and its ladder (at
    least as many bytes again) do not."""
    source = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=10"]
    tone = ["-f", "lavfi", "-i", "sine=duration=10"]
    video = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "45", "-pix_fmt", "yuv420p"]
    run_ffmpeg([*source, *tone, *video, "-c:a", "aac", "-b:a", "32k", "-shortest", str(path)])
    return path


def one_job_worker(spawn, work, min_free_bytes, fake_seconds=0.1):
    """A worker for one message, its work folder at `work`; None: the real ffmpeg."""
    return spawn(
        "worker",
        worker_args(fake_seconds, "--max-messages", "1"),
        VIDEO_WORK_DIR=str(work),
        VIDEO_WORK_DIR_MIN_FREE_BYTES=min_free_bytes,
    )


def assert_released_for_space(worker, video):
    released = worker.wait_event("VIDEO_RELEASED", timeout=120, video_id=video.pk)
    assert (released["reason"], released["error_code"]) == ("no_space", "NO_SPACE_LEFT")
    assert released["retry_in_seconds"] == 30
    assert worker.wait(60) == 0, worker.tail()
    video.refresh_from_db()
    assert (video.status, video.attempts, video.error_code) == ("UPLOADED", 0, "NO_SPACE_LEFT")
    assert not worker.events("VIDEO_PROCESSING_FAILED") and worker.problems() == []
    return released


def test_work_folder_full_during_the_encode(sqs, spawn, make_video, tmp_path):
    # Before: TRANSCODE_FAILED (not retryable) when ffmpeg exited 0 with empty segments,
    # or a retryable TRANSCODE_FAILED that spent the upload's attempts.
    video = make_video(compact_clip(tmp_path / "lecture.mp4"))
    sqs.send(video.pk, video.tenant_id)
    with tmpfs(tmp_path / "work", "640k") as work:
        worker = one_job_worker(spawn, work, 65536, fake_seconds=None)
        released = assert_released_for_space(worker, video)
        assert "disk is full" in released["error_message"]
        assert list(work.iterdir()) == []  # the job folder went with the job
    assert sqs.counts() == (0, 1, 0)  # hidden for the backoff, not deleted


def test_work_folder_full_during_the_download(sqs, spawn, make_video, tmp_path):
    # Before: a bare OSError, INTERNAL_ERROR with a traceback.
    video = make_video(content=b"\x00" * 200_000)
    sqs.send(video.pk, video.tenant_id)
    with tmpfs(tmp_path / "work", "128k") as work:
        fill(work, leave_bytes=16 * 1024)
        worker = one_job_worker(spawn, work, 0)
        released = assert_released_for_space(worker, video)
        assert "No space left on device" in released["error_message"]
    assert sqs.counts() == (0, 1, 0)


def test_storage_full_during_the_publish(sqs, spawn, make_video, storage_root):
    # Before: a bare OSError from LocalStorage, INTERNAL_ERROR with a traceback, and the
    # files stored before the disk filled up left under the claim's prefix.
    with tmpfs(storage_root, "256k"):
        video = make_video()
        fill(storage_root, leave_bytes=8192)  # room for two of the job's files, not three
        sqs.send(video.pk, video.tenant_id)
        worker = spawn("worker", worker_args(0.1, "--max-messages", "1"))
        released = assert_released_for_space(worker, video)
        assert "storing" in released["error_message"]
        discarded = worker.wait_event("VIDEO_OUTPUT_DISCARDED", timeout=5)
        assert discarded["objects"] == 2, "two files were stored before the disk was full"
        outputs = storage_root / f"tenants/{video.tenant_id}/videos/{video.pk}/hls"
        assert not outputs.exists() or not [p for p in outputs.rglob("*") if p.is_file()]


def test_worker_without_room_takes_no_job_until_it_has(sqs, spawn, make_video, tmp_path):
    video = make_video()
    sqs.send(video.pk, video.tenant_id)
    with tmpfs(tmp_path / "work", "1m") as work:
        fill(work, leave_bytes=100 * 1024)
        worker = one_job_worker(spawn, work, 512 * 1024)
        full = worker.wait_event("WORKER_DISK_FULL", timeout=60)
        assert full["free_bytes"] < 512 * 1024 and full["work_dir"] == str(work)
        assert full["receiving"] is False
        assert sqs.counts() == (1, 0, 0)  # still waiting in the queue for a worker with room
        (work / ".filler").unlink()
        worker.wait_event("WORKER_RESUMED", timeout=30)
        worker.wait_event("SQS_JOB_COMPLETED", timeout=60, video_id=video.pk)
        assert worker.wait(30) == 0
    events = [e["event"] for e in worker.lines()]
    assert events.index("WORKER_RESUMED") < events.index("SQS_MESSAGE_RECEIVED")
    assert events.count("WORKER_DISK_FULL") == 1  # said once, not once per check
    assert Video.objects.get(pk=video.pk).status == "READY"
