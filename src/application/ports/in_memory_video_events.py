"""In-memory fake of the event outbox: what the in-memory repository records with each change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from src.application.domain.webhooks import VideoEventType, new_event_id
from src.application.ports.captions import CaptionTrackRecord
from src.application.ports.video_events import (
    EVENT_FOR_STATUS,
    VideoEvent,
    VideoEventOutbox,
)
from src.application.ports.video_repository import VideoRecord


class InMemoryVideoEventOutbox(VideoEventOutbox):
    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._events: list[VideoEvent] = []
        self._lock = threading.Lock()
        self._clock = clock or (lambda: datetime.now(UTC))

    def record(
        self,
        video: VideoRecord,
        event_type: VideoEventType | None = None,
        track: CaptionTrackRecord | None = None,
    ) -> VideoEvent | None:
        event_type = event_type or EVENT_FOR_STATUS.get(video.status)
        if event_type is None:
            return None
        event = VideoEvent(
            id=new_event_id(),
            type=event_type,
            video_id=video.id,
            tenant_id=video.tenant_id,
            occurred_at=video.updated_at or self._clock(),
            video=video,
            track=track,
        )
        with self._lock:
            self._events.append(event)
        return event

    def for_video(self, video_id: int) -> list[VideoEvent]:
        with self._lock:
            return [e for e in self._events if e.video_id == video_id]

    def all(self) -> list[VideoEvent]:
        with self._lock:
            return list(self._events)
