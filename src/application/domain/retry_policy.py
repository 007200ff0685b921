"""The retry policy: what a failure does to the row, and when the job message comes back."""

from __future__ import annotations

from dataclasses import dataclass

from src.application.domain.error_codes import ErrorCode
from src.application.domain.status import VideoStatus

# Retry backoff: 30 s, 60 s, 120 s … capped at 15 min (SQS's DelaySeconds maximum).
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 900
# The row's error_message column holds at most this much.
MAX_ERROR_MESSAGE = 2000


def retry_delay(count: int, base: int = RETRY_BASE_SECONDS) -> int:
    """Seconds before retry number `count` (1 for the first): doubling, capped at 15 min."""
    return int(min(base * 2 ** max(count - 1, 0), RETRY_MAX_SECONDS))


# Failures that are the machine's, never the upload's: the video goes back to UPLOADED
# without spending an attempt (like a graceful shutdown), its message after the backoff.
NOT_THE_UPLOADS_FAULT = frozenset({ErrorCode.NO_SPACE_LEFT})


def spends_attempt(code: ErrorCode | str) -> bool:
    """Whether a failure with `code` counts against the video's attempts."""
    return ErrorCode(code) not in NOT_THE_UPLOADS_FAULT


def exhausted_message(attempts: int, last_code: str = "", last_message: str = "") -> str:
    """The error_message of a video that ran out of attempts, naming the last error."""
    last = ": ".join(part for part in (last_code, last_message) if part) or "none recorded"
    return f"attempts exhausted ({attempts}); last error: {last}"[:MAX_ERROR_MESSAGE]


@dataclass(frozen=True)
class Failure:
    """What a failed attempt writes on the row: UPLOADED to retry, or FAILED for good."""

    status: VideoStatus
    error_code: ErrorCode
    error_message: str

    @property
    def will_retry(self) -> bool:
        return self.status == VideoStatus.UPLOADED


def fail_outcome(
    attempt: int, max_attempts: int, code: ErrorCode | str, message: str, retryable: bool
) -> Failure:
    """The row after attempt number `attempt` failed with `code`; every adapter writes this."""
    code = ErrorCode(code)
    if retryable and attempt < max_attempts:
        return Failure(VideoStatus.UPLOADED, code, message[:MAX_ERROR_MESSAGE])
    if retryable:
        return Failure(
            VideoStatus.FAILED,
            ErrorCode.MAX_ATTEMPTS_EXCEEDED,
            exhausted_message(attempt, code, message),
        )
    return Failure(VideoStatus.FAILED, code, message[:MAX_ERROR_MESSAGE])
