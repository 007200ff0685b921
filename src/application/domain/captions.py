"""Caption tracks: their statuses, kinds and cues (docs/ARCHITECTURE.md, "Captions")."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CaptionStatus(enum.StrEnum):
    """One definition: the Django model's choices are derived from it.

    An automatic track is a job with the same guarantees as encoding: QUEUED (a worker may
    claim it), PROCESSING (a lease names its worker), then READY, FAILED, CANCELED or SKIPPED
    (nothing to transcribe: `error_code` NO_AUDIO). An uploaded track is READY at once.
    """

    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class CaptionKind(enum.StrEnum):
    AUTO = "auto"  # transcribed by the caption job
    UPLOADED = "uploaded"  # an SRT or WebVTT file the academy sent


@dataclass(frozen=True)
class Cue:
    """One caption: seconds from the start of the video, and its text."""

    start: float
    end: float
    text: str

    def to_dict(self) -> dict[str, float | str]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text}

    @classmethod
    def from_dict(cls, data: dict) -> Cue:
        return cls(float(data["start"]), float(data["end"]), str(data["text"]))
