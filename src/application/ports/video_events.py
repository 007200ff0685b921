"""The video event outbox: a state change and its event are one write, never two.

The repository records an event inside the very transaction that changes the row (a claim,
a fenced complete or fail, a cancel, an expiry), so an event exists exactly when its change
committed. Webhook deliveries are made from these rows later, by the dispatcher.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from src.application.domain import CaptionKind, CaptionStatus, VideoStatus
from src.application.domain.webhooks import VideoEventType
from src.application.ports.captions import CaptionTrackRecord
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
    track: CaptionTrackRecord | None = None  # a caption event's track, as the change left it


class VideoEventOutbox(abc.ABC):
    """Written by the repository, inside the transaction of the change it describes."""

    @abc.abstractmethod
    def record(
        self,
        video: VideoRecord,
        event_type: VideoEventType | None = None,
        track: CaptionTrackRecord | None = None,
    ) -> VideoEvent | None:
        """Record the event for the status `video` just moved to (None: that status has none),
        or `event_type` when the change is not the video's own: a caption track's, stored with
        the `track` it is about."""

    @abc.abstractmethod
    def for_video(self, video_id: int) -> list[VideoEvent]:
        """The video's events, oldest first."""


def snapshot(record: VideoRecord | CaptionTrackRecord) -> dict[str, Any]:
    """A row as JSON-ready data (datetimes as ISO 8601, enums as their values), stored with its
    event."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, enum.Enum):
            value = value.value
        out[f.name] = value
    return out


def _values(data: dict[str, Any], cls: type) -> dict[str, Any]:
    """The fields of `cls` a snapshot holds (unknown keys from older rows are ignored)."""
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        if isinstance(value, str) and name.endswith(("_at", "_until")):
            value = datetime.fromisoformat(value)
        values[name] = value
    return values


def from_snapshot(data: dict[str, Any]) -> VideoRecord:
    """The VideoRecord a snapshot was taken of."""
    values = _values(data, VideoRecord)
    values["status"] = VideoStatus(values["status"])
    return VideoRecord(**values)


def track_from_snapshot(data: dict[str, Any]) -> CaptionTrackRecord:
    """The CaptionTrackRecord a snapshot was taken of."""
    values = _values(data, CaptionTrackRecord)
    values["kind"] = CaptionKind(values["kind"])
    values["status"] = CaptionStatus(values["status"])
    return CaptionTrackRecord(**values)
