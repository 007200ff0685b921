"""Storage keys as every storage adapter checks them: relative, slash-separated, unable to
leave their root. (src/application/storage_keys.py builds the keys; this module guards them.)"""

from __future__ import annotations

import os
from pathlib import Path


def check_key(key: str, *, prefix: bool = False) -> str:
    """`key` if it is a relative, slash-separated key that cannot leave its root; else ValueError.

    With `prefix=True` the empty string (everything) and one trailing slash are allowed too.
    """
    if not isinstance(key, str):
        raise ValueError(f"storage key must be a string, got {type(key).__name__}")
    if prefix and key == "":
        return key
    body = key[:-1] if prefix and key.endswith("/") else key
    problem = ""
    if body == "":
        problem = "is empty"
    elif body.startswith("/"):
        problem = "is absolute"
    elif "\\" in body or "\x00" in body:
        problem = "contains a backslash or NUL"
    elif any(part in ("", ".", "..") for part in body.split("/")):
        problem = "has an empty, '.' or '..' segment"
    if problem:
        raise ValueError(f"storage key {key!r} {problem}")
    return key


def files_below(local_dir: Path) -> list[tuple[Path, str]]:
    """Regular files under `local_dir` with their relative POSIX names, sorted.

    Symbolic links are skipped: an upload never follows a link out of its own folder.
    """
    local_dir = Path(local_dir)
    found = []
    for dirpath, _dirnames, filenames in os.walk(local_dir):  # os.walk never descends a link
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found.append((path, path.relative_to(local_dir).as_posix()))
    return sorted(found, key=lambda item: item[1])


def join_key(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else name
