"""Telemetry port: live progress and the worker heartbeat (Redis in production)."""

from __future__ import annotations

import abc
from datetime import UTC, datetime
from typing import Any

# Contract (docs/ARCHITECTURE.md, "Redis keys"): progress outlives the job by an hour for late
# readers; the heartbeat lives VIDEO_HEARTBEAT_TTL seconds unless refreshed.
PROGRESS_TTL_SECONDS = 3600


def progress_record(
    percent: float, step: str, worker_id: str, trace_id: str = ""
) -> dict[str, Any]:
    """The progress value as every adapter stores it: percent clamped to 0..100, one decimal,
    and the job's trace id when it has one."""
    record = {
        "percent": round(max(0.0, min(100.0, float(percent))), 1),
        "step": step,
        "worker_id": worker_id,
        "updated_at": datetime.now(UTC).isoformat(),
    }
    if trace_id:
        record["trace_id"] = trace_id
    return record


class TelemetryUnavailable(Exception):
    """The telemetry store is unreachable: an unreadable heartbeat is not a missing one."""


class ProgressPort(abc.ABC):
    def ping(self) -> None:  # noqa: B027 - a no-op for stores that are always there (fakes)
        """Raise TelemetryUnavailable when the store does not answer (readiness checks)."""

    @abc.abstractmethod
    def record_progress(
        self,
        tenant_id: int,
        video_id: int,
        percent: float,
        step: str,
        worker_id: str,
        trace_id: str = "",
    ) -> None:
        """Write progress (with the job's trace id, when it has one) and refresh the heartbeat;
        raises TelemetryUnavailable."""

    @abc.abstractmethod
    def set_heartbeat(self, tenant_id: int, video_id: int, worker_id: str) -> None:
        """Refresh the heartbeat key; raises TelemetryUnavailable."""

    @abc.abstractmethod
    def has_heartbeat(self, tenant_id: int, video_id: int) -> bool:
        """Whether a heartbeat exists; raises TelemetryUnavailable when that cannot be known."""

    @abc.abstractmethod
    def delete_heartbeat(self, tenant_id: int, video_id: int) -> None:
        """Drop the heartbeat when the job ends; raises TelemetryUnavailable."""

    @abc.abstractmethod
    def get_progress(self, tenant_id: int, video_id: int) -> dict[str, Any] | None:
        """The last progress record, or None."""

    @abc.abstractmethod
    def publish_status(self, tenant_id: int, video_id: int, status: str) -> None:
        """Tell live followers that the row changed to `status` (they read the row again).

        Best effort and never raises: the row is the truth, and followers that miss the
        announcement find the change when they next read the row. Bounded by a short timeout,
        so a dead store never holds up the write that preceded it.
        """
