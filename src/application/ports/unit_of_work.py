"""The unit of work: the repositories, and one transaction around what a use case writes.

    with uow:
        tenant_id = uow.tenants.ensure(slug, name)
        video_id = uow.videos.create_video(tenant_id)
        uow.commit()

Leaving the block without `commit()` (or with an exception) rolls everything back. A commit
is durable when the block ends: what follows it (sending the job message) can rely on it.
Outside a block each repository call stands alone, as the worker uses them.
"""

from __future__ import annotations

import abc

from src.application.ports.tenants import TenantRepository
from src.application.ports.video_repository import VideoRepository


class AbstractUnitOfWork(abc.ABC):
    videos: VideoRepository
    tenants: TenantRepository

    def __enter__(self) -> AbstractUnitOfWork:
        self._begin()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._end(commit=exc_type is None and self._committed)

    def commit(self) -> None:
        """Keep what the block wrote (it is committed when the block ends)."""
        self._committed = True

    def _begin(self) -> None:
        self._committed = False
        self._open()

    @abc.abstractmethod
    def _open(self) -> None:
        """Start the transaction."""

    @abc.abstractmethod
    def _end(self, commit: bool) -> None:
        """Commit or roll back, and end the transaction."""
