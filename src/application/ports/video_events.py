"""The video event outbox: a state change and its event are one write, never two.

The repository records an event inside the very transaction that changes the row (a claim,
a fenced complete or fail, a cancel, an expiry), so an event exists exactly when its change
committed. Webhook deliveries are made from these rows later, by the dispatcher.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from src.application.domain import VideoStatus
from src.application.domain.webhooks import VideoEventType
from src.application.ports.video_repository import VideoRecord

# Which event a status change makes: the status the row moved to.
EVENT_FOR_STATUS = {
    VideoStatus.PROCESSING: VideoEventType.PROCESSING,
    VideoStatus.READY: VideoEventType.READY,
    VideoStatus.FAILED: VideoEventType.FAILED,
    VideoStatus.CANCELED: VideoEventType.CANCELED,
}


@dataclass(frozen=True)
class VideoEvent:
    """One recorded event: `id` is the webhook-id every delivery of it is sent with."""

    id: str
    type: VideoEventType
    video_id: int
    tenant_id: int
    occurred_at: datetime
    video: VideoRecord  # the row as the change left it


class VideoEventOutbox(abc.ABC):
    """Written by the repository, inside the transaction of the change it describes."""

    @abc.abstractmethod
    def record(
        self, video: VideoRecord, event_type: VideoEventType | None = None
    ) -> VideoEvent | None:
        """Record the event for the status `video` just moved to (None: that status has none),
        or `event_type` when the change is not the video's own (a caption track's)."""

    @abc.abstractmethod
    def for_video(self, video_id: int) -> list[VideoEvent]:
        """The video's events, oldest first."""


def snapshot(video: VideoRecord) -> dict[str, Any]:
    """The row as JSON-ready data (datetimes as ISO 8601), stored with its event."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(video):
        value = getattr(video, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    out["status"] = str(video.status)
    return out


def from_snapshot(data: dict[str, Any]) -> VideoRecord:
    """The VideoRecord a snapshot was taken of (unknown keys from older rows are ignored)."""
    known = {f.name: f for f in dataclasses.fields(VideoRecord)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        if isinstance(value, str) and name.endswith(("_at", "_until")):
            value = datetime.fromisoformat(value)
        values[name] = value
    values["status"] = VideoStatus(values["status"])
    return VideoRecord(**values)
