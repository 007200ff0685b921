"""/media/'s lookup, from the composition root on fakes: a READY video's published files, by
playback id only."""

from __future__ import annotations

from src.application.ports.video_repository import VideoResult
from src.application.storage_keys import job_output_prefix


def _ready(world, tenant_id: int = 7) -> tuple[int, str]:
    """A READY video whose published playlist and one segment are in storage."""
    vid = world.video(tenant_id)
    lease = world.repo.try_claim_video(vid, "worker-a")
    folder = job_output_prefix(lease.media_salt, lease.token)
    for name in ("master.m3u8", "720p/seg_00001.ts"):
        world.storage.objects[f"{folder}/{name}"] = b"#EXTM3U\n" * 4
    assert world.repo.complete(lease, VideoResult(hls_key=f"{folder}/master.m3u8"))
    return vid, folder


def test_a_ready_videos_files_are_found_by_playback_id_and_served_in_ranges(world):
    media = world.services.api().media
    vid, folder = _ready(world)
    video = media.video(world.repo.get(vid).playback_id)
    assert video is not None and media.published(video)
    assert media.key(video, "720p/seg_00001.ts") == f"{folder}/720p/seg_00001.ts"
    assert media.size(media.key(video, "master.m3u8")) == 32
    assert b"".join(media.read_range(f"{folder}/master.m3u8", 0, 6)) == b"#EXTM3U"


def test_nothing_else_is_found_or_published(world):
    media = world.services.api().media
    vid, _folder = _ready(world)
    processing = world.video()
    world.repo.try_claim_video(processing, "worker-b")
    assert not media.published(media.video(world.repo.get(processing).playback_id))  # not READY
    assert media.video("A" * 24) is None  # no such playback id
    assert media.video(str(vid)) is None  # a video id is no playback id
    assert media.video(f"tenants/7/videos/{vid}") is None
