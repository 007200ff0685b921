"""Why a running job stops before it ends on its own."""

from __future__ import annotations

import enum


class StopReason(enum.StrEnum):
    SHUTDOWN = "shutdown"  # the worker got SIGTERM/SIGINT and the grace period ran out
    CANCELED = "canceled"  # the video was canceled (the lease renewal found it CANCELED)
    LEASE_LOST = "lease_lost"  # a renewal or the final write was fenced out: another owner
    STALL = "stall"  # ffmpeg made no progress for VIDEO_STALL_SECONDS (TRANSCODE_STALLED)
    VISIBILITY_CAP = "visibility_cap"  # the SQS message cannot stay hidden any longer (12 h)


class JobStopped(Exception):
    """Raised inside a job that must stop now; `reason` says why."""

    def __init__(self, reason: StopReason | str) -> None:
        self.reason = StopReason(reason)
        super().__init__(str(self.reason))
