"""Following one video live: what a WebSocket or SSE stream shows, in order.

`FollowVideo.follow(tenant_id, video_id)` yields a `connected` event, then `progress` events
as the worker publishes them (and on status changes short of the end), then one terminal
event (`ready`, `failed` or `canceled`) and stops. A video that has already ended yields its
terminal event right after `connected`.

Captions: a `ready` video whose automatic caption track is still to come (QUEUED or
PROCESSING, or not yet requested within `CaptionFollowing.request_grace_seconds` of READY)
does not end the stream: `ready` says `more`, then `captions` (the tracks) follows, then
`captions_progress` as the caption worker publishes it and `captions` again at each track
change; the stream ends after the `captions` event that no longer says `more` (the track
READY, FAILED, SKIPPED or CANCELED). Without captions the stream ends at `ready` as before.

The feed only says that something changed: the progress key and the row say what. So a lost
event costs nothing — a stream that has heard nothing for `idle_seconds` reads the row and
the key again — and while the feed's store (Redis) is down the stream says so (`stream`
event, mode `polling`), reads the row every `poll_seconds`, and goes back to live updates
(mode `live`) once Redis answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from src.application.domain import CaptionKind, CaptionStatus, VideoStatus
from src.application.ports.captions import CaptionTrackRecord
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
from src.application.ports.progress_feed import FeedSubscription, FeedUnavailable, ProgressFeed
from src.application.ports.video_repository import VideoRecord, VideoRepository
from src.application.video_errors import VideoNotFound
from src.application.video_queries import Progress, progress_from_record, row_progress

T = TypeVar("T")
RunBlocking = Callable[[Callable[[], T]], Awaitable[T]]

CONNECTED = "connected"
PROGRESS = "progress"
STREAM = "stream"
# Nothing changed over a quiet spell: SSE sends a comment so proxies keep the connection open
# (WebSocket servers ping on their own); never sent to clients as a message.
IDLE = "idle"
READY = "ready"
FAILED = "failed"
CANCELED = "canceled"
CAPTIONS = "captions"  # the video's caption tracks, after `ready`
CAPTIONS_PROGRESS = "captions_progress"  # the automatic track's transcription
TERMINAL_EVENTS = {
    VideoStatus.READY: READY,
    VideoStatus.FAILED: FAILED,
    VideoStatus.CANCELED: CANCELED,
}
# `stream` event modes.
LIVE = "live"
POLLING = "polling"
# Feed event types (src/infrastructure/cache/progress_events.py publishes them).
FEED_PROGRESS = "video.progress"
FEED_STATUS = "video.status"
FEED_CAPTIONS = "video.captions"  # a caption job's progress record
# With live updates on, a stream that heard nothing for this many poll intervals reads the row
# and the key again: it finds a lost announcement, or a Redis that went away.
IDLE_POLLS = 3


@dataclass(frozen=True)
class LiveEvent:
    type: str
    video: VideoRecord
    progress: Progress
    mode: str = ""  # `stream` events: LIVE or POLLING
    detail: str = ""  # `stream` events: why
    tracks: tuple[CaptionTrackRecord, ...] = ()  # `captions` events
    more: bool = False  # `ready` and `captions`: the stream goes on (a caption track to come)

    @property
    def terminal(self) -> bool:
        """The video's own last event (its final status)."""
        return self.type in TERMINAL_EVENTS.values()

    @property
    def last(self) -> bool:
        """The stream's last event: it closes after sending it."""
        return (self.terminal or self.type == CAPTIONS) and not self.more


_PENDING = (CaptionStatus.QUEUED, CaptionStatus.PROCESSING)


@dataclass(frozen=True)
class CaptionFollowing:
    """What a stream needs to follow a READY video's captions."""

    tracks: Callable[[int], list[CaptionTrackRecord]]  # a video's tracks (a database read)
    expects_auto: bool  # automatic captions are on (VIDEO_CAPTIONS=auto)
    # READY is announced a moment before the worker requests the track: a READY video with
    # no automatic track yet is waited for this long after it completed.
    request_grace_seconds: float = 30.0
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def pending(self, video: VideoRecord, tracks: Sequence[CaptionTrackRecord]) -> bool:
        auto = [t for t in tracks if t.kind == CaptionKind.AUTO]
        if any(t.status in _PENDING for t in auto):
            return True
        if auto or not self.expects_auto or video.processing_completed_at is None:
            return False
        age = (self.now() - video.processing_completed_at).total_seconds()
        return age < self.request_grace_seconds


def _states(tracks: Sequence[CaptionTrackRecord]) -> tuple[tuple[int, str], ...]:
    return tuple((t.id, str(t.status)) for t in tracks)


async def _in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


class FollowVideo:
    def __init__(
        self,
        repository: VideoRepository,
        progress: ProgressPort,
        feed: ProgressFeed,
        *,
        poll_seconds: float = 5.0,
        run_blocking: RunBlocking = _in_thread,
        read_telemetry: RunBlocking = _in_thread,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        captions: CaptionFollowing | None = None,
    ) -> None:
        self.repository = repository
        self.captions = captions
        self.progress = progress
        self.feed = feed
        self.poll_seconds = poll_seconds
        self.idle_seconds = poll_seconds * IDLE_POLLS
        self.run_blocking = run_blocking  # database reads
        # Redis reads run apart from the database's: a dead Redis must not queue them up.
        self.read_telemetry = read_telemetry
        self.sleep = sleep
        self.clock = clock
        # After a failed read, every stream of this process takes Redis as down for one poll
        # interval instead of each waiting on it (a server that does not answer costs seconds).
        self._telemetry_down_until = 0.0

    async def video(self, tenant_id: int, video_id: int) -> VideoRecord:
        """The tenant's video; VideoNotFound for a missing one and another tenant's alike."""
        row = await self.run_blocking(lambda: self.repository.get(video_id))
        if row is None or row.tenant_id != tenant_id:
            raise VideoNotFound(f"there is no video {video_id}")
        return row

    async def follow(self, tenant_id: int, video_id: int) -> AsyncIterator[LiveEvent]:
        """The stream's events; VideoNotFound before the first, or later if the video is
        deleted meanwhile."""
        # Subscribe before the first read: nothing published after that read can be missed.
        subscription = await self._subscribe(tenant_id, video_id)
        try:
            video = await self.video(tenant_id, video_id)
            progress, redis_ok = await self._read_progress(video)
            yield LiveEvent(CONNECTED, video, progress)
            if video.status in TERMINAL_EVENTS:
                async for event in self._end(tenant_id, video, subscription):
                    yield event
                return
            if subscription is not None and not redis_ok:
                await subscription.close()
                subscription = None
            if subscription is None:
                yield self._polling(video, progress)
            shown = (video.status, progress.percent, progress.step)
            while True:
                event = None
                if subscription is None:
                    await self.sleep(self.poll_seconds)
                else:
                    event = await subscription.next_event(self.idle_seconds)
                if event is not None and event.get("type") == FEED_PROGRESS:
                    if video.status != VideoStatus.PROCESSING:
                        # Only a lease holder publishes progress: the claim's announcement
                        # has not arrived (or was lost); the row says what happened.
                        video = await self.video(tenant_id, video_id)
                    if video.status == VideoStatus.PROCESSING:
                        progress = progress_from_record(event)
                        if (video.status, progress.percent, progress.step) != shown:
                            shown = (video.status, progress.percent, progress.step)
                            yield LiveEvent(PROGRESS, video, progress)
                        continue
                # An announcement, a quiet spell or a poll tick: read the row and the key.
                video = await self.video(tenant_id, video_id)
                if video.status in TERMINAL_EVENTS:
                    async for event in self._end(tenant_id, video, subscription):
                        yield event
                    return
                progress, redis_ok = await self._read_progress(video)
                if subscription is None and redis_ok:
                    subscription = await self._subscribe(tenant_id, video_id)
                    if subscription is not None:
                        yield LiveEvent(STREAM, video, progress, LIVE, "live updates resumed")
                elif subscription is not None and not redis_ok:
                    await subscription.close()
                    subscription = None
                    yield self._polling(video, progress)
                # Without Redis the row knows the status but not the percent: keep showing
                # the last percent until the status itself changes.
                unknown = not redis_ok and video.status == shown[0]
                if not unknown and (video.status, progress.percent, progress.step) != shown:
                    shown = (video.status, progress.percent, progress.step)
                    yield LiveEvent(PROGRESS, video, progress)
                elif event is None:
                    yield LiveEvent(IDLE, video, progress)
        finally:
            if subscription is not None:
                await subscription.close()

    async def _end(
        self, tenant_id: int, video: VideoRecord, subscription: FeedSubscription | None
    ) -> AsyncIterator[LiveEvent]:
        """The terminal event; for a READY video whose automatic captions are to come, then
        its captions until the track is done (see the module's docstring)."""
        terminal = TERMINAL_EVENTS[video.status]
        following = self.captions
        if following is None or video.status != VideoStatus.READY:
            yield LiveEvent(terminal, video, row_progress(video))
            return
        video_id = video.id
        tracks = await self.run_blocking(lambda: following.tracks(video_id))
        pending = following.pending(video, tracks)
        yield LiveEvent(terminal, video, row_progress(video), tracks=tuple(tracks), more=pending)
        if not pending:
            return
        yield LiveEvent(CAPTIONS, video, row_progress(video), tracks=tuple(tracks), more=True)
        shown = _states(tracks)
        while True:
            event = None
            if subscription is None:
                await self.sleep(self.poll_seconds)
            else:
                event = await subscription.next_event(self.idle_seconds)
            if event is not None and event.get("type") == FEED_CAPTIONS:
                progress = progress_from_record(event)
                yield LiveEvent(CAPTIONS_PROGRESS, video, progress, tracks=tuple(tracks), more=True)
                continue
            # A track changed (its announcement), a quiet spell or a poll tick: read again.
            video = await self.video(tenant_id, video_id)  # VideoNotFound once deleted
            tracks = await self.run_blocking(lambda: following.tracks(video_id))
            pending = following.pending(video, tracks)
            if _states(tracks) != shown or not pending:
                shown = _states(tracks)
                yield LiveEvent(
                    CAPTIONS, video, row_progress(video), tracks=tuple(tracks), more=pending
                )
                if not pending:
                    return
            elif event is None:
                yield LiveEvent(IDLE, video, row_progress(video))

    def _polling(self, video: VideoRecord, progress: Progress) -> LiveEvent:
        return LiveEvent(
            STREAM,
            video,
            progress,
            POLLING,
            f"live updates are unavailable (Redis is down): the video is read every "
            f"{self.poll_seconds:g} s until they return",
        )

    async def _subscribe(self, tenant_id: int, video_id: int) -> FeedSubscription | None:
        try:
            return await self.feed.subscribe(tenant_id, video_id)
        except FeedUnavailable:
            return None

    async def _read_progress(self, video: VideoRecord) -> tuple[Progress, bool]:
        """What the stream shows for `video`, and whether Redis answered."""

        def read() -> dict[str, Any] | None:
            return self.progress.get_progress(video.tenant_id, video.id)

        if self.clock() < self._telemetry_down_until:
            return row_progress(video), False
        try:
            record = await self.read_telemetry(read)
        except TelemetryUnavailable:
            self._telemetry_down_until = self.clock() + self.poll_seconds
            return row_progress(video), False
        if video.status != VideoStatus.PROCESSING:
            return row_progress(video), True
        return progress_from_record(record), True
