"""What must hold before the worker takes a job; while one fails, the worker receives nothing."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

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
