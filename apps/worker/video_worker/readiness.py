"""What must hold before the worker takes a job; while one fails, the worker receives nothing."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from src.application.ports.queue import QueueNotFound
from src.infrastructure.disk_space import free_bytes


@dataclass(frozen=True)
class Hold:
    """Why the worker is not taking jobs: the event to log and its fields."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


class ReadinessCheck(abc.ABC):
    name: str

    @abc.abstractmethod
    def hold(self) -> Hold | None:
        """None when jobs can be taken, else why not. Must not raise."""

    def suspect(self) -> None:  # noqa: B027 - most checks look every time anyway
        """Something failed: look again before the next receive."""


class LookedAtAfterErrors(ReadinessCheck):
    """A check made when the worker starts and after an error, not before every message;
    while it holds, it is made again before each receive."""

    def __init__(self) -> None:
        self._suspect = True  # checked once at start

    def suspect(self) -> None:
        self._suspect = True

    def hold(self) -> Hold | None:
        if not self._suspect:
            return None
        hold = self.look()
        self._suspect = hold is not None
        return hold

    @abc.abstractmethod
    def look(self) -> Hold | None:
        """The check itself; must not raise."""


class DependencyUp(LookedAtAfterErrors):
    """A service no job can do without (the database). While it is down the worker receives
    nothing, so an outage does not spend the messages' receive count (SQS's redrive
    budget)."""

    def __init__(self, dependency: str, probe: Callable[[], None]) -> None:
        super().__init__()
        self.name = f"dependency:{dependency}"
        self.dependency = dependency
        self._probe = probe

    def look(self) -> Hold | None:
        try:
            self._probe()
        except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
            error = f"{type(exc).__name__}: {exc}".strip()[:300]
            return Hold("WORKER_DEPENDENCY_DOWN", {"dependency": self.dependency, "error": error})
        return None


class QueueExists(LookedAtAfterErrors):
    """The job queue exists. A worker may start before whoever creates the queue (compose's
    setup, a stack still deploying): it then waits and looks again instead of exiting, and
    the loop logs WORKER_QUEUE_MISSING once. An outage is no hold: the receive's backoff
    handles it."""

    name = "queue"

    def __init__(self, check: Callable[[], None]) -> None:
        super().__init__()
        self._check = check

    def look(self) -> Hold | None:
        try:
            self._check()
        except QueueNotFound as exc:
            return Hold("WORKER_QUEUE_MISSING", {"error": str(exc)})
        except Exception:  # noqa: BLE001 - SQS unreachable: the receive retries with backoff
            return None
        return None


class WorkDirRoom(ReadinessCheck):
    """A job needs room for its source and its outputs: without it every job would fail."""

    name = "work_dir_space"

    def __init__(self, work_dir: str, min_free_bytes: int) -> None:
        self.work_dir = work_dir
        self.min_free_bytes = min_free_bytes

    def hold(self) -> Hold | None:
        try:
            free = free_bytes(self.work_dir)
        except OSError as exc:
            return Hold("WORKER_DISK_FULL", {"work_dir": self.work_dir, "error": str(exc)})
        if free >= self.min_free_bytes:
            return None
        return Hold(
            "WORKER_DISK_FULL",
            {
                "work_dir": self.work_dir,
                "free_bytes": free,
                "min_free_bytes": self.min_free_bytes,
            },
        )
