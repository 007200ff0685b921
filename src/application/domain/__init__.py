"""What every layer shares: statuses, the lease, error codes, stop reasons, the retry policy.

Plain Python only (no Django, boto3, redis or ffmpeg). Each concept has its own module; the
names are re-exported here so callers write `from src.application.domain import VideoStatus`.
"""

from src.application.domain.captions import CaptionKind, CaptionStatus, Cue
from src.application.domain.error_codes import ErrorCode, VideoProcessingError
from src.application.domain.lease import Lease
from src.application.domain.playback import PlaybackPolicy, new_playback_id
from src.application.domain.retry_policy import (
    RETRY_BASE_SECONDS,
    RETRY_MAX_SECONDS,
    Failure,
    exhausted_message,
    fail_outcome,
    retry_delay,
    spends_attempt,
)
from src.application.domain.status import VideoStatus
from src.application.domain.stop_reason import JobStopped, StopReason

__all__ = [
    "RETRY_BASE_SECONDS",
    "RETRY_MAX_SECONDS",
    "CaptionKind",
    "CaptionStatus",
    "Cue",
    "ErrorCode",
    "Failure",
    "JobStopped",
    "Lease",
    "PlaybackPolicy",
    "StopReason",
    "VideoProcessingError",
    "VideoStatus",
    "exhausted_message",
    "fail_outcome",
    "new_playback_id",
    "retry_delay",
    "spends_attempt",
]
