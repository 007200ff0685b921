"""ffmpeg and ffprobe are checked when a worker starts: found, runnable, and which version.

A worker without them would take jobs and fail every upload after its attempts
(MAX_ATTEMPTS_EXCEEDED); the check stops it at start-up with one line naming the variable.
"""

from __future__ import annotations

import os
import shutil
import subprocess

# `ffmpeg -version` answers in milliseconds; a binary that hangs is as good as missing.
VERSION_TIMEOUT_SECONDS = 20


class MissingBinary(Exception):
    """The program cannot be found or run; the message names the variable to set."""


def binary_version(variable: str, program: str) -> str:
    """The first line of `program -version` ("ffmpeg version 5.1.6 …"); MissingBinary if the
    program is not on PATH (or not at its absolute path) or does not run."""
    path = program if os.path.isabs(program) else shutil.which(program)
    where = f"{program!r}" + ("" if os.path.isabs(program) else " on PATH")
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise MissingBinary(
            f"{variable}: {where} is not an executable file (install it or set {variable})"
        )
    try:
        done = subprocess.run(
            [path, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise MissingBinary(f"{variable}: {path} does not run ({type(exc).__name__})") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise MissingBinary(f"{variable}: {path} -version exited {done.returncode}")
    return lines[0][:120]
