"""Fakes of the queue, telemetry, storage, transcoder, tenants and unit-of-work ports, for tests
of every tier (the video repository's fake is in_memory_video_repository.py)."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from src.application.domain import JobStopped, VideoProcessingError
from src.application.ports.in_memory_video_repository import InMemoryVideoRepository
from src.application.ports.progress import (
    PROGRESS_TTL_SECONDS,
    ProgressPort,
    TelemetryUnavailable,
    progress_record,
)
from src.application.ports.progress_feed import FeedSubscription, FeedUnavailable, ProgressFeed
from src.application.ports.queue import QueueMessage, VideoQueue
from src.application.ports.storage import (
    Storage,
    StorageFull,
    StreamTooLarge,
    UnfinishedUpload,
)
from src.application.ports.tenants import TenantRepository
from src.application.ports.transcoder import (
    ProbeResult,
    ProgressCallback,
    StopCheck,
    TranscodeOutput,
    Transcoder,
)
from src.application.ports.unit_of_work import AbstractUnitOfWork


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class _Stored:
    message_id: str
    body: str
    attributes: dict[str, str]
    visible_at: float
    receive_count: int = 0
    receipt_handle: str = ""  # the latest delivery's; older ones are stale


class InMemoryQueue(VideoQueue):
    """Behaves like one SQS queue: a received message is hidden for the visibility timeout
    and comes back unless it is deleted; `change_visibility` moves that moment; `send`
    honours `delay_seconds`. Time comes from `clock`, so a test moves it instead of sleeping.

    As with SQS, a stale receipt handle (from an earlier delivery) deletes or hides nothing.
    """

    # A long poll on an empty fake waits at most this long (real time): the fake clock does
    # not move on its own, so waiting longer could only slow the caller down.
    MAX_REAL_WAIT_SECONDS = 0.05

    def __init__(
        self, visibility_timeout: int = 30, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.visibility_timeout = visibility_timeout
        self.clock = clock
        self._messages: dict[str, _Stored] = {}
        self._ids = itertools.count(1)
        self._cond = threading.Condition()

    def put(self, body: str, *, delay_seconds: int = 0, **attributes: str) -> str:
        """Enqueue a raw body (any text, for tests of bad input); returns its message id."""
        n = next(self._ids)
        stored = _Stored(f"m{n}", body, dict(attributes), self.clock() + delay_seconds)
        with self._cond:
            self._messages[stored.message_id] = stored
            self._cond.notify_all()
        return stored.message_id

    def receive(
        self, wait_seconds: int, visibility_timeout: int | None = None
    ) -> QueueMessage | None:
        deadline = time.monotonic() + min(wait_seconds, self.MAX_REAL_WAIT_SECONDS)
        with self._cond:
            while True:
                now = self.clock()
                ready = [m for m in self._messages.values() if m.visible_at <= now]
                if ready:
                    stored = min(ready, key=lambda m: (m.visible_at, m.message_id))
                    stored.receive_count += 1
                    stored.receipt_handle = (
                        f"receipt-{stored.message_id}-{stored.receive_count}-{next(self._ids):012d}"
                    )
                    hidden = (
                        self.visibility_timeout
                        if visibility_timeout is None
                        else visibility_timeout
                    )
                    stored.visible_at = now + hidden
                    return QueueMessage(
                        stored.body,
                        stored.receipt_handle,
                        stored.message_id,
                        stored.receive_count,
                        dict(stored.attributes),
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def _current(self, message: QueueMessage) -> _Stored | None:
        stored = self._messages.get(message.message_id)
        if stored is None or stored.receipt_handle != message.receipt_handle:
            return None
        return stored

    def delete(self, message: QueueMessage) -> None:
        with self._cond:
            if self._current(message) is not None:
                del self._messages[message.message_id]

    def change_visibility(self, message: QueueMessage, seconds: int) -> None:
        with self._cond:
            stored = self._current(message)
            if stored is not None and stored.visible_at > self.clock():  # still in flight
                stored.visible_at = self.clock() + seconds
                self._cond.notify_all()

    def send(self, video_id, tenant_id, request_id, trace_id=None, delay_seconds=0) -> str:
        body = json.dumps({"video_id": video_id, "tenant_id": tenant_id, "request_id": request_id})
        attributes = {"trace_id": trace_id} if trace_id else {}
        # SQS refuses delays beyond 15 minutes; the adapter clamps, and so does the fake.
        return self.put(body, delay_seconds=max(0, min(delay_seconds, 900)), **attributes)

    # -- what a test looks at ------------------------------------------------------------
    def messages(self) -> list[dict[str, Any]]:
        """Every message the queue holds, oldest first: its body's fields (when it is a JSON
        object), `visible_in` seconds (0 when receivable now) and `receive_count`."""
        with self._cond:
            now = self.clock()
            out = []
            for stored in sorted(self._messages.values(), key=lambda m: int(m.message_id[1:])):
                try:
                    fields = json.loads(stored.body)
                except ValueError:
                    fields = None
                out.append(
                    {
                        **(fields if isinstance(fields, dict) else {"body": stored.body}),
                        "message_id": stored.message_id,
                        "visible_in": max(stored.visible_at - now, 0),
                        "receive_count": stored.receive_count,
                        **(
                            {"trace_id": stored.attributes["trace_id"]}
                            if "trace_id" in stored.attributes
                            else {}
                        ),
                    }
                )
            return out


class InMemoryProgress(ProgressPort):
    """Keys that expire like Redis's (heartbeat after `heartbeat_ttl`, progress after an hour)
    on `clock`; `available = False` makes every call fail as a Redis outage does."""

    def __init__(
        self,
        heartbeat_ttl: int = 60,
        clock: Callable[[], float] = time.monotonic,
        feed: InMemoryProgressFeed | None = None,
    ) -> None:
        self.heartbeat_ttl = heartbeat_ttl
        self.clock = clock
        # With a feed, progress records and status announcements are also published on it,
        # as the Redis adapter publishes on pub/sub.
        self.feed = feed
        self._progress: dict[tuple[int, int], tuple[dict[str, Any], float]] = {}
        self._heartbeats: dict[tuple[int, int], tuple[str, float]] = {}
        self.announced: list[tuple[int, int, str]] = []
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise TelemetryUnavailable("telemetry store down (fake)")

    def _live(self, table: dict, key: tuple[int, int]):
        found = table.get(key)
        if found is None or found[1] <= self.clock():
            table.pop(key, None)
            return None
        return found[0]

    def record_progress(self, tenant_id, video_id, percent, step, worker_id, trace_id="") -> None:
        self._check()
        record = progress_record(percent, step, worker_id, trace_id)
        self._progress[(tenant_id, video_id)] = (record, self.clock() + PROGRESS_TTL_SECONDS)
        self.set_heartbeat(tenant_id, video_id, worker_id)
        if self.feed is not None:
            self.feed.publish(tenant_id, video_id, {"type": "video.progress", **record})

    def set_heartbeat(self, tenant_id, video_id, worker_id) -> None:
        self._check()
        self._heartbeats[(tenant_id, video_id)] = (worker_id, self.clock() + self.heartbeat_ttl)

    def has_heartbeat(self, tenant_id, video_id) -> bool:
        self._check()
        return self._live(self._heartbeats, (tenant_id, video_id)) is not None

    def delete_heartbeat(self, tenant_id, video_id) -> None:
        self._check()
        self._heartbeats.pop((tenant_id, video_id), None)

    def get_progress(self, tenant_id, video_id):
        self._check()
        return self._live(self._progress, (tenant_id, video_id))

    def publish_status(self, tenant_id, video_id, status) -> None:
        if self.available:  # a store that is down loses the announcement, silently
            self.announced.append((tenant_id, video_id, str(status)))
            if self.feed is not None:
                self.feed.publish(tenant_id, video_id, {"type": "video.status", "status": status})


class _InMemorySubscription(FeedSubscription):
    def __init__(self, feed: InMemoryProgressFeed, key: tuple[int, int]) -> None:
        self.feed = feed
        self.key = key
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def next_event(self, timeout: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.events.get(), timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        subscribers = self.feed.subscribers.get(self.key, [])
        if self in subscribers:
            subscribers.remove(self)


class InMemoryProgressFeed(ProgressFeed):
    """Live events in one process: `publish` reaches every current subscriber; while
    `available` is False, subscribing fails and published events are lost."""

    def __init__(self) -> None:
        self.subscribers: dict[tuple[int, int], list[_InMemorySubscription]] = {}
        self.available = True

    async def subscribe(self, tenant_id: int, video_id: int) -> FeedSubscription:
        if not self.available:
            raise FeedUnavailable("feed down (fake)")
        subscription = _InMemorySubscription(self, (tenant_id, video_id))
        self.subscribers.setdefault((tenant_id, video_id), []).append(subscription)
        return subscription

    def publish(self, tenant_id: int, video_id: int, event: dict[str, Any]) -> None:
        if self.available:
            for subscription in self.subscribers.get((tenant_id, video_id), []):
                subscription.events.put_nowait(event)


class InMemoryStorage(Storage):
    def __init__(self, capacity_bytes: int | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.capacity_bytes = capacity_bytes  # None: unlimited; else a full disk past it

    def put_file(self, local_path: Path, key: str) -> None:
        data = Path(local_path).read_bytes()
        if self.capacity_bytes is not None:
            used = sum(len(v) for k, v in self.objects.items() if k != key)
            if used + len(data) > self.capacity_bytes:
                raise StorageFull(f"storing {key!r} failed: No space left on device")
        self.objects[key] = data

    def put_stream(self, stream: BinaryIO, key: str, max_bytes: int) -> int:
        data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise StreamTooLarge(max_bytes)
        self.objects[key] = data
        return len(data)

    def get_file(self, key: str, local_path: Path) -> None:
        if key not in self.objects:
            raise FileNotFoundError(key)
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        Path(local_path).write_bytes(self.objects[key])

    def put_directory(self, local_dir: Path, prefix: str) -> list[str]:
        keys = []
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                key = f"{prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
                self.put_file(path, key)
                keys.append(key)
        return keys

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if key not in self.objects:
            raise FileNotFoundError(key)
        return iter([self.objects[key][start : end + 1]])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def size(self, key: str) -> int:
        if key not in self.objects:
            raise FileNotFoundError(key)
        return len(self.objects[key])

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def newest_write(self, prefix: str) -> float | None:
        # No write times in memory: whatever is there counts as written just now.
        return time.time() if self.list_keys(prefix) else None

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for k in keys:
            del self.objects[k]
        return len(keys)

    def unfinished_uploads(self, idle_since: float) -> list[UnfinishedUpload]:
        return []  # every write here is whole at once

    def abort_unfinished(self, upload: UnfinishedUpload) -> None:
        pass

    def locate(self, key: str) -> str:
        return f"memory://{key}"


class FakeTranscoder(Transcoder):
    """Writes a tiny HLS tree; can be told to take time, fail, or report progress in steps."""

    def __init__(
        self,
        seconds: float = 0.0,
        steps: int = 4,
        error: VideoProcessingError | None = None,
        duration: float = 10.0,
    ) -> None:
        self.seconds = seconds
        self.steps = max(steps, 1)
        self.error = error
        self.duration = duration
        self.calls: list[Path] = []
        self.started = threading.Event()  # set when a transcode begins: tests wait on it

    def transcode(
        self, source: Path, work_dir: Path, on_progress: ProgressCallback, stop_reason: StopCheck
    ) -> TranscodeOutput:
        self.calls.append(source)
        self.started.set()
        started = time.monotonic()
        for i in range(1, self.steps + 1):
            target = started + self.seconds * i / self.steps
            while time.monotonic() < target:
                reason = stop_reason()
                if reason:
                    raise JobStopped(reason)
                time.sleep(min(0.05, max(target - time.monotonic(), 0)))
            on_progress(100.0 * i / self.steps, "transcode")
        reason = stop_reason()
        if reason:
            raise JobStopped(reason)
        if self.error is not None:
            raise self.error
        out = Path(work_dir) / "out"
        if out.exists():
            shutil.rmtree(out)
        (out / "360p").mkdir(parents=True)
        (out / "360p" / "index.m3u8").write_text("#EXTM3U\n#EXT-X-ENDLIST\n")
        (out / "master.m3u8").write_text(
            '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e"\n'
            "360p/index.m3u8\n"
        )
        (out / "thumbnail.jpg").write_bytes(b"\xff\xd8\xff\xd9")
        size = source.stat().st_size if source.exists() else 0
        probe = ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", self.duration, 640, 360, size, "h264", True)
        elapsed = int((time.monotonic() - started) * 1000)
        return TranscodeOutput(
            output_dir=out,
            master_playlist="master.m3u8",
            thumbnail="thumbnail.jpg",
            probe=probe,
            renditions=[{"name": "360p", "width": 640, "height": 360, "bandwidth": 900000}],
            stage_timings_ms={"probe": 0, "transcode": elapsed},
        )


class InMemoryTenantRepository(TenantRepository):
    def __init__(self) -> None:
        self.tenants: dict[str, tuple[int, str]] = {}  # slug -> (id, name)
        self._lock = threading.Lock()

    def id_for_slug(self, slug: str) -> int | None:
        with self._lock:
            found = self.tenants.get(slug)
        return found[0] if found else None

    def ensure(self, slug: str, name: str) -> int:
        with self._lock:
            if slug not in self.tenants:
                self.tenants[slug] = (len(self.tenants) + 1, name)
            return self.tenants[slug][0]


class InMemoryUnitOfWork(AbstractUnitOfWork):
    """The in-memory repositories; leaving a block without commit() restores what they held
    when it began, as a rolled-back transaction would."""

    def __init__(
        self,
        videos: InMemoryVideoRepository | None = None,
        tenants: InMemoryTenantRepository | None = None,
    ) -> None:
        self.videos = videos or InMemoryVideoRepository()
        self.tenants = tenants or InMemoryTenantRepository()
        self.commits = 0

    def _open(self) -> None:
        self._saved = (self.videos.snapshot(), dict(self.tenants.tenants))

    def _end(self, commit: bool) -> None:
        if commit:
            self.commits += 1
            return
        videos, tenants = self._saved
        self.videos.restore(videos)
        self.tenants.tenants = tenants
