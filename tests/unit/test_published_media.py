"""/media/'s lookup, from the composition root on fakes: only a READY video's published files."""

from __future__ import annotations

from src.application.ports.video_repository import VideoResult


def _ready(world, tenant_id: int = 7) -> tuple[int, str]:
    """A READY video whose published playlist and one segment are in storage."""
    vid = world.video(tenant_id)
    lease = world.repo.try_claim_video(vid, "worker-a")
    folder = f"tenants/{tenant_id}/videos/{vid}/hls/{lease.token}"
    for name in ("master.m3u8", "720p/seg_00001.ts"):
        world.storage.objects[f"{folder}/{name}"] = b"#EXTM3U\n" * 4
    assert world.repo.complete(lease, VideoResult(hls_key=f"{folder}/master.m3u8"))
    return vid, folder


def test_a_ready_videos_published_files_are_served_in_ranges(world):
    media = world.services.api().media
    _vid, folder = _ready(world)
    assert media.published(f"{folder}/master.m3u8")
    assert media.published(f"{folder}/720p/seg_00001.ts")
    assert media.size(f"{folder}/master.m3u8") == 32
    assert b"".join(media.read_range(f"{folder}/master.m3u8", 0, 6)) == b"#EXTM3U"


def test_nothing_else_is_published(world):
    media = world.services.api().media
    vid, folder = _ready(world)
    other_tenant = folder.replace("tenants/7/", "tenants/8/", 1)
    processing = world.video()
    world.repo.try_claim_video(processing, "worker-b")
    assert not media.published(other_tenant + "/master.m3u8")  # another tenant's path
    assert not media.published(f"tenants/7/videos/{vid}/source/lecture.mp4")  # the source
    assert not media.published(f"tenants/7/videos/{vid}/hls/999/master.m3u8")  # a dead claim
    assert not media.published(f"{folder}/../../source/lecture.mp4")  # climbing out
    assert not media.published(f"tenants/7/videos/{processing}/hls/1/master.m3u8")  # not READY
    assert not media.published("tenants/7/videos/999/hls/1/master.m3u8")  # no such video
