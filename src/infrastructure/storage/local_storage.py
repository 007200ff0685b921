"""LocalStorage: media as files under one root folder (the embedded default, `file:///abs/path`)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from src.application.ports.storage import (
    Storage,
    StreamTooLarge,
    UnfinishedUpload,
    storage_error_from,
)
from src.infrastructure.storage.keys import check_key, files_below, join_key

# Files being written carry this prefix until os.replace gives them their name; listings skip
# them, so a crash mid-write never shows up as an object.
TEMP_PREFIX = ".partial-"
# Streams are copied in pieces of this size: memory stays flat whatever the upload's size.
STREAM_CHUNK_BYTES = 1024 * 1024


def _atomic_write(stream: BinaryIO, target: Path, max_bytes: int) -> int:
    """Write `stream` to a temporary file beside `target`, then rename: readers see the old
    file or the new one, never half of it. More than `max_bytes` raises StreamTooLarge and
    leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    tmp = Path(tmp_name)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(STREAM_CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:
                    raise StreamTooLarge(max_bytes)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; media must stay readable by a web server
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def _atomic_copy(source: Path, target: Path) -> None:
    """`_atomic_write` of a file, whatever its size."""
    with open(source, "rb") as src:
        _atomic_write(src, target, sys.maxsize)


def _file_range(path: Path, start: int, end: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = f.read(min(STREAM_CHUNK_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # Defence in depth: a symlinked folder inside the root must not lead out of it.
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"storage key {key!r} resolves outside the storage root")
        return path

    def put_file(self, local_path: Path, key: str) -> None:
        target = self._path(key)
        try:
            _atomic_copy(Path(local_path), target)
        except OSError as exc:
            raise storage_error_from(exc, f"storing {key!r} at {target}") from exc

    def put_stream(self, stream: BinaryIO, key: str, max_bytes: int) -> int:
        target = self._path(key)
        try:
            return _atomic_write(stream, target, max_bytes)
        except OSError as exc:
            raise storage_error_from(exc, f"storing {key!r} at {target}") from exc

    def get_file(self, key: str, local_path: Path) -> None:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object at {key!r}")
        try:
            _atomic_copy(path, Path(local_path))
        except OSError as exc:
            if not path.is_file():  # deleted while we copied it
                raise FileNotFoundError(f"no object at {key!r}") from None
            raise storage_error_from(exc, f"copying {key!r} to {local_path}") from exc

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object at {key!r}")
        return _file_range(path, start, end)

    def put_directory(self, local_dir: Path, prefix: str) -> list[str]:
        keys = []
        for path, name in files_below(local_dir):
            key = join_key(check_key(prefix, prefix=True), name)
            self.put_file(path, key)
            keys.append(key)
        return keys

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object at {key!r}")
        return path.stat().st_size

    def _walk(self, prefix: str) -> Iterator[tuple[str, Path]]:
        """(key, path) of every file, temporary ones included, whose key starts with `prefix`."""
        check_key(prefix, prefix=True)
        # Only the folder holding the prefix's last complete segment can contain matches.
        start = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not start.resolve().is_relative_to(self.root) or not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and not path.is_symlink():
                    yield key, path

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k, p in self._walk(prefix) if not p.name.startswith(TEMP_PREFIX))

    def newest_write(self, prefix: str) -> float | None:
        times = [path.stat().st_mtime for _key, path in self._walk(prefix)]
        return max(times) if times else None

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        folders = set()
        for _key, path in list(self._walk(prefix)):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise storage_error_from(exc, f"deleting {path}") from exc
            folders.update(path.parents)
            deleted += not path.name.startswith(TEMP_PREFIX)
        # Prune folders left empty, deepest first, never the root itself.
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            if folder.is_relative_to(self.root) and folder != self.root:
                try:
                    folder.rmdir()
                except OSError:
                    pass  # not empty: other objects live there
        return deleted

    def unfinished_uploads(self, idle_since: float) -> list[UnfinishedUpload]:
        """Temporary files (TEMP_PREFIX) a write left behind when its process died before the
        rename; a live write keeps its file's mtime fresh."""
        found = []
        for key, path in self._walk(""):
            if not path.name.startswith(TEMP_PREFIX):
                continue
            try:
                written = path.stat().st_mtime
            except FileNotFoundError:
                continue  # renamed or removed meanwhile: the write finished
            except OSError as exc:
                raise storage_error_from(exc, f"reading {path}") from exc
            if written < idle_since:
                found.append(UnfinishedUpload(key, "", written))
        return found

    def abort_unfinished(self, upload: UnfinishedUpload) -> None:
        path = self._path(upload.key)
        if not path.name.startswith(TEMP_PREFIX):
            raise ValueError(f"{upload.key!r} is an object, not an unfinished upload")
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise storage_error_from(exc, f"deleting {path}") from exc

    def locate(self, key: str) -> str:
        return str(self._path(key))
