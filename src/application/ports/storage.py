"""Media storage port: local files by default, S3 in production."""

from __future__ import annotations

import abc
import errno
from pathlib import Path

# The disk (or the quota) is full: the machine's problem, never the upload's.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageError(Exception):
    """A storage operation failed (retryable unless stated otherwise)."""


class StorageFull(StorageError):
    """No room left where a file was being written: the storage, or the worker's own disk."""


def storage_error_from(exc: OSError, doing: str) -> StorageError:
    """The port's error for an OSError met while `doing` something (StorageFull on ENOSPC)."""
    kind = StorageFull if exc.errno in NO_SPACE_ERRNOS else StorageError
    return kind(f"{doing} failed: {exc.strerror or exc}")


class Storage(abc.ABC):
    @abc.abstractmethod
    def put_file(self, local_path: Path, key: str) -> None:
        """Store one local file under `key`."""

    @abc.abstractmethod
    def get_file(self, key: str, local_path: Path) -> None:
        """Copy the object at `key` to `local_path`; FileNotFoundError when absent.

        Every method raises StorageError (StorageFull when a disk has no room) for other
        failures, never a bare OSError.
        """

    @abc.abstractmethod
    def put_directory(self, local_dir: Path, prefix: str) -> list[str]:
        """Store every file under `local_dir` below `prefix`; returns the keys written."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object exists at `key`."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes of the object at `key`; FileNotFoundError when absent."""

    @abc.abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key below `prefix`, sorted."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object below `prefix`; returns how many."""

    @abc.abstractmethod
    def locate(self, key: str) -> str:
        """Where a person finds the object: a filesystem path or an s3:// URL."""
