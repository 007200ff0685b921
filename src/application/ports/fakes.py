"""Fakes of the queue, telemetry, storage and transcoder ports, for tests of every tier."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from src.application.domain import JobStopped, VideoProcessingError
from src.application.ports.progress import ProgressPort, TelemetryUnavailable
from src.application.ports.queue import QueueMessage, VideoQueue
from src.application.ports.storage import Storage, StorageFull, StreamTooLarge
from src.application.ports.transcoder import (
    ProbeResult,
    ProgressCallback,
    StopCheck,
    TranscodeOutput,
    Transcoder,
)


class InMemoryQueue(VideoQueue):
    def __init__(self) -> None:
        self.pending: deque[QueueMessage] = deque()
        self.in_flight: dict[str, QueueMessage] = {}
        self.deleted: list[str] = []
        self.visibility_changes: list[tuple[str, int]] = []
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def put(self, body: str, receive_count: int = 1, **attributes: str) -> QueueMessage:
        n = next(self._ids)
        msg = QueueMessage(body, f"receipt-handle-{n:020d}", f"m{n}", receive_count, attributes)
        with self._lock:
            self.pending.append(msg)
        return msg

    def receive(
        self, wait_seconds: int, visibility_timeout: int | None = None
    ) -> QueueMessage | None:
        with self._lock:
            empty = not self.pending
        if empty:
            time.sleep(min(wait_seconds, 0.05))  # a short stand-in for the long poll
        with self._lock:
            if not self.pending:
                return None
            msg = self.pending.popleft()
            self.in_flight[msg.receipt_handle] = msg
            return msg

    def delete(self, message: QueueMessage) -> None:
        with self._lock:
            self.in_flight.pop(message.receipt_handle, None)
            self.deleted.append(message.receipt_handle)

    def change_visibility(self, message: QueueMessage, seconds: int) -> None:
        with self._lock:
            self.visibility_changes.append((message.receipt_handle, seconds))

    def send(self, video_id, tenant_id, request_id, trace_id=None, delay_seconds=0) -> str:
        record = {
            "video_id": video_id,
            "tenant_id": tenant_id,
            "request_id": request_id,
            "trace_id": trace_id,
            "delay_seconds": delay_seconds,
        }
        with self._lock:
            self.sent.append(record)
        return f"sent-{len(self.sent)}"


class InMemoryProgress(ProgressPort):
    def __init__(self) -> None:
        self.progress: dict[tuple[int, int], dict[str, Any]] = {}
        self.heartbeats: dict[tuple[int, int], str] = {}
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise TelemetryUnavailable("telemetry store down (fake)")

    def record_progress(self, tenant_id, video_id, percent, step, worker_id, trace_id="") -> None:
        self._check()
        self.progress[(tenant_id, video_id)] = {
            "percent": percent,
            "step": step,
            "worker_id": worker_id,
            **({"trace_id": trace_id} if trace_id else {}),
        }
        self.set_heartbeat(tenant_id, video_id, worker_id)

    def set_heartbeat(self, tenant_id, video_id, worker_id) -> None:
        self._check()
        self.heartbeats[(tenant_id, video_id)] = worker_id

    def has_heartbeat(self, tenant_id, video_id) -> bool:
        self._check()
        return (tenant_id, video_id) in self.heartbeats

    def delete_heartbeat(self, tenant_id, video_id) -> None:
        self._check()
        self.heartbeats.pop((tenant_id, video_id), None)

    def get_progress(self, tenant_id, video_id):
        self._check()
        return self.progress.get((tenant_id, video_id))


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

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for k in keys:
            del self.objects[k]
        return len(keys)

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

    def transcode(
        self, source: Path, work_dir: Path, on_progress: ProgressCallback, stop_reason: StopCheck
    ) -> TranscodeOutput:
        self.calls.append(source)
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
