"""Media storage port: local files by default, S3 in production."""

from __future__ import annotations

import abc
import errno
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


@dataclass(frozen=True)
class UnfinishedUpload:
    """An upload the storage holds that never became an object: an S3 multipart upload not
    completed nor aborted, or a local temporary file never renamed to its key."""

    key: str  # the object it was writing (S3), or the temporary file's own key (local)
    upload_id: str  # the S3 upload id; "" for a local temporary file
    last_write: float  # epoch seconds: its start, or its newest part (S3) / write (local)


class Storage(abc.ABC):
    @abc.abstractmethod
    def put_file(self, local_path: Path, key: str) -> None:
        """Store one local file under `key`."""

    @abc.abstractmethod
    def put_stream(self, stream: BinaryIO, key: str, max_bytes: int) -> int:
        """Store what `stream` yields under `key`, in bounded memory; returns the size.

        More than `max_bytes` raises StreamTooLarge and stores nothing.
        """

    @abc.abstractmethod
    def get_file(self, key: str, local_path: Path) -> None:
        """Copy the object at `key` to `local_path`; FileNotFoundError when absent.

        Every method raises StorageError (StorageFull when a disk has no room) for other
        failures, never a bare OSError.
        """

    @abc.abstractmethod
    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (inclusive) of the object at `key`, in pieces of bounded size;
        FileNotFoundError when absent."""

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
    def newest_write(self, prefix: str) -> float | None:
        """Epoch seconds of the latest write below `prefix`; None when nothing is there."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object below `prefix`; returns how many."""

    @abc.abstractmethod
    def unfinished_uploads(self, idle_since: float) -> list[UnfinishedUpload]:
        """Uploads below the storage's root that never completed and have had nothing written
        since `idle_since` (epoch seconds), sorted by key."""

    @abc.abstractmethod
    def abort_unfinished(self, upload: UnfinishedUpload) -> None:
        """Drop an unfinished upload and what it stored (no error when already gone)."""

    @abc.abstractmethod
    def locate(self, key: str) -> str:
        """Where a person finds the object: a filesystem path or an s3:// URL."""


class StreamTooLarge(Exception):
    """A stream brought more bytes than allowed; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class MultipartRejected(Exception):
    """The storage refused to assemble a multipart upload (unknown upload, parts or ETags)."""


class DirectUploads(abc.ABC):
    """Storages a client can upload to directly, with presigned URLs (S3)."""

    @abc.abstractmethod
    def presign_put(self, key: str, expires_seconds: int) -> str:
        """A URL a client PUTs the whole object to, valid for `expires_seconds`."""

    @abc.abstractmethod
    def start_multipart(self, key: str) -> str:
        """Open a multipart upload to `key`; returns its upload id."""

    @abc.abstractmethod
    def presign_part(self, key: str, upload_id: str, part_number: int, expires_seconds: int) -> str:
        """A URL a client PUTs part `part_number` (from 1) to."""

    @abc.abstractmethod
    def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]] | None
    ) -> None:
        """Assemble the parts (number, ETag); with None, every part the storage holds.
        Raises MultipartRejected."""

    @abc.abstractmethod
    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload and its parts (no error when already gone)."""


# Readiness probes write here: outside every tenant's prefix, one small object, deleted at once.
READY_PROBE_PREFIX = "_ready/"


def probe_storage(storage: Storage) -> None:
    """Write and delete a probe object: the bucket (or folder) exists and this process may
    write there, as an upload and a worker must. Raises what the storage raises."""
    key = f"{READY_PROBE_PREFIX}probe-{uuid.uuid4().hex}"
    storage.put_stream(io.BytesIO(b"ready"), key, 16)
    storage.delete_prefix(key)
