"""The job queue port (SQS in production)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from src.application.messages import bounded_trace_id


@dataclass(frozen=True)
class QueueMessage:
    body: str
    receipt_handle: str
    message_id: str = ""
    receive_count: int = 1
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def trace_id(self) -> str:
        """The `trace_id` attribute, capped like every trace id (a producer may send 256 KB)."""
        return bounded_trace_id(self.attributes.get("trace_id"))

    @property
    def receipt_handle_suffix(self) -> str:
        """The last 12 characters: enough to correlate, never the whole handle."""
        return self.receipt_handle[-12:]


class QueueNotFound(Exception):
    """The configured queue does not exist: a configuration error, not an outage."""


class VideoQueue(abc.ABC):
    def check(self) -> None:  # noqa: B027 - optional hook, a no-op for queues without setup
        """Verify the queue exists; raises QueueNotFound. Outages propagate as they are."""

    @abc.abstractmethod
    def receive(
        self, wait_seconds: int, visibility_timeout: int | None = None
    ) -> QueueMessage | None:
        """Long-poll for one message; None when the wait ends empty."""

    @abc.abstractmethod
    def delete(self, message: QueueMessage) -> None:
        """Acknowledge the message."""

    @abc.abstractmethod
    def change_visibility(self, message: QueueMessage, seconds: int) -> None:
        """Hide (or, with 0, show again) an in-flight message."""

    @abc.abstractmethod
    def send(
        self,
        video_id: int,
        tenant_id: int,
        request_id: str,
        trace_id: str | None = None,
        delay_seconds: int = 0,
    ) -> str:
        """Enqueue a job message; returns its message id."""
