"""Following a video live (FollowVideo) on the fakes: order of events, late joiners, lost
announcements, another tenant's video, and the feed going away and coming back."""

from __future__ import annotations

import asyncio

import pytest

from src.application.domain import ErrorCode
from src.application.live_progress import (
    CANCELED,
    CONNECTED,
    FAILED,
    IDLE,
    LIVE,
    POLLING,
    PROGRESS,
    READY,
    STREAM,
    FollowVideo,
)
from src.application.ports.fakes import InMemoryProgress, InMemoryProgressFeed
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.ports.video_repository import VideoResult
from src.application.status_announcements import StatusAnnouncingRepository
from src.application.video_errors import VideoNotFound

TENANT = 7
POLL = 0.02


class World:
    def __init__(self) -> None:
        self.feed = InMemoryProgressFeed()
        self.progress = InMemoryProgress(feed=self.feed)
        self.repo = StatusAnnouncingRepository(InMemoryVideoRepository(), self.progress)
        self.follow = FollowVideo(
            self.repo, self.progress, self.feed, poll_seconds=POLL, run_blocking=_direct
        )

    def video(self) -> int:
        return self.repo.create_video(TENANT, "Lecture", "src")

    def redis(self, up: bool) -> None:
        self.feed.available = up
        self.progress.available = up


async def _direct(fn):
    return fn()


async def _collect(events, until_types=(READY, FAILED, CANCELED), skip_idle=True):
    out = []
    async for event in events:
        if skip_idle and event.type == IDLE:
            continue
        out.append(event)
        if event.type in until_types:
            break
    return out


async def _next(events, skip=(IDLE,)):
    while True:
        event = await asyncio.wait_for(anext(events), 5)
        if event.type not in skip:
            return event


def _wait_subscribed(world: World, video_id: int):
    async def wait():
        while not world.feed.subscribers.get((TENANT, video_id)):
            await asyncio.sleep(0.001)

    return asyncio.wait_for(wait(), 5)


def test_connected_then_each_published_progress_then_ready():
    world = World()
    vid = world.video()

    async def scenario():
        events = world.follow.follow(TENANT, vid)
        first = await _next(events)
        assert (first.type, first.video.status, first.progress.percent) == (
            CONNECTED,
            "UPLOADED",
            0.0,
        )
        await _wait_subscribed(world, vid)
        lease = world.repo.try_claim_video(vid, "w1")
        claimed = await _next(events)
        assert (claimed.type, claimed.video.status) == (PROGRESS, "PROCESSING")
        seen = []
        for percent in (10.0, 55.5, 90.0):
            world.progress.record_progress(TENANT, vid, percent, "transcode", "w1")
            event = await _next(events)
            seen.append((event.type, event.progress.percent, event.progress.step))
        assert seen == [(PROGRESS, p, "transcode") for p in (10.0, 55.5, 90.0)]
        world.repo.complete(lease, VideoResult(hls_key="t/hls/master.m3u8"))
        last = await _next(events)
        assert (last.type, last.terminal, last.video.hls_key) == (READY, True, "t/hls/master.m3u8")
        with pytest.raises(StopAsyncIteration):
            await anext(events)
        assert world.feed.subscribers[(TENANT, vid)] == [], "the subscription is closed"

    asyncio.run(scenario())


def test_a_late_follower_gets_the_terminal_event_at_once():
    world = World()
    vid = world.video()
    lease = world.repo.try_claim_video(vid, "w1")
    world.repo.fail(lease, ErrorCode.PROBE_FAILED, "not a video", retryable=False)

    async def scenario():
        return [e.type for e in await _collect(world.follow.follow(TENANT, vid))]

    assert asyncio.run(scenario()) == [CONNECTED, FAILED]


def test_another_tenants_video_is_not_found_before_any_event():
    world = World()
    vid = world.video()

    async def scenario():
        with pytest.raises(VideoNotFound):
            await anext(world.follow.follow(TENANT + 1, vid))

    asyncio.run(scenario())
    assert world.feed.subscribers.get((TENANT + 1, vid), []) == []


def test_a_lost_announcement_is_found_by_the_next_quiet_spell_check():
    world = World()
    vid = world.video()

    async def scenario():
        events = world.follow.follow(TENANT, vid)
        await _next(events)
        await _wait_subscribed(world, vid)
        world.feed.available = False  # the cancel's announcement is lost on the way
        world.repo.cancel(vid)
        world.feed.available = True
        return await _next(events)

    assert asyncio.run(scenario()).type == CANCELED


def test_redis_down_says_so_polls_the_row_and_comes_back_live():
    world = World()
    vid = world.video()
    lease = world.repo.try_claim_video(vid, "w1")
    world.redis(up=False)

    async def scenario():
        events = world.follow.follow(TENANT, vid)
        connected = await _next(events)
        polling = await _next(events)
        world.redis(up=True)
        live = await _next(events)
        starting = await _next(events)  # the key, read again on the way back: nothing yet
        assert (starting.type, starting.progress.step) == (PROGRESS, "starting")
        await _wait_subscribed(world, vid)
        world.progress.record_progress(TENANT, vid, 42.0, "transcode", "w1")
        progress = await _next(events)
        world.redis(up=False)
        world.repo.complete(lease, VideoResult(hls_key="k/master.m3u8"))  # not announced
        ready = await _next(events, skip=(IDLE, STREAM))
        return connected, polling, live, progress, ready

    connected, polling, live, progress, ready = asyncio.run(scenario())
    assert connected.type == CONNECTED
    assert (polling.type, polling.mode) == (STREAM, POLLING)
    assert "Redis is down" in polling.detail
    assert (live.type, live.mode) == (STREAM, LIVE)
    assert (progress.type, progress.progress.percent) == (PROGRESS, 42.0)
    assert ready.type == READY


def test_a_deleted_video_ends_the_stream_with_not_found():
    world = World()
    vid = world.video()

    async def scenario():
        events = world.follow.follow(TENANT, vid)
        await _next(events)
        await _wait_subscribed(world, vid)
        world.repo.delete(vid)
        with pytest.raises(VideoNotFound):
            await _next(events)

    asyncio.run(scenario())


def test_status_changes_are_announced_after_the_write_only_when_it_took():
    world = World()
    vid = world.video()
    lease = world.repo.try_claim_video(vid, "w1")
    assert world.repo.try_claim_video(vid, "w2") is None  # lost the race: nothing announced
    world.repo.fail(lease, ErrorCode.STORAGE_FAILED, "S3 500", retryable=True)
    assert not world.repo.complete(lease, VideoResult(hls_key="x"))  # fenced out: silent
    assert world.progress.announced == [(TENANT, vid, "PROCESSING"), (TENANT, vid, "UPLOADED")]


def test_a_ready_video_waits_for_its_automatic_track_only_within_the_request_grace():
    from datetime import timedelta

    from src.application.domain import CaptionKind, CaptionStatus
    from src.application.live_progress import CaptionFollowing
    from src.application.ports.captions import CaptionTrackRecord

    repo = InMemoryVideoRepository()
    vid = repo.create_video(TENANT, "Lecture", "src/key")
    lease = repo.try_claim_video(vid, "w", 60)
    assert repo.complete(lease, VideoResult(hls_key="k/master.m3u8"))
    video = repo.get(vid)
    completed = video.processing_completed_at
    assert completed is not None

    def following(seconds_after: float, expects_auto: bool = True) -> CaptionFollowing:
        moment = completed + timedelta(seconds=seconds_after)
        return CaptionFollowing(lambda _v: [], expects_auto, 30.0, now=lambda: moment)

    def track(status: CaptionStatus, kind: CaptionKind = CaptionKind.AUTO):
        return CaptionTrackRecord(1, vid, TENANT, kind, status)

    assert following(1).pending(video, [])  # the worker is about to request it
    assert not following(31).pending(video, [])  # never requested (reconcile's to mend)
    assert not following(1, expects_auto=False).pending(video, [])  # VIDEO_CAPTIONS=off
    assert following(999).pending(video, [track(CaptionStatus.PROCESSING)])
    assert not following(1).pending(video, [track(CaptionStatus.SKIPPED)])
    uploaded = track(CaptionStatus.READY, CaptionKind.UPLOADED)
    assert following(1).pending(video, [uploaded])  # an upload is no automatic track
