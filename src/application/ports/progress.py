"""Telemetry port: live progress and the worker heartbeat (Redis in production)."""

from __future__ import annotations

import abc
from typing import Any


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
