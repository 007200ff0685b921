"""Run one media subprocess under a watchdog: stop requests, stall detection, no leftovers.

The child starts in its own session, so the whole process group (the binary and anything it
spawned) is killed together. The watchdog runs in the caller's thread and polls `stop_reason`
every `poll_interval` seconds whatever the child prints; reader threads only collect output.
The child also dies with the worker: it is started through util-linux's `setpriv
--pdeathsig KILL`, so a worker killed with SIGKILL (which runs no cleanup) takes its ffmpeg
along instead of leaving it encoding for nobody in its own session.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from src.application.domain import JobStopped, StopReason

# Long enough for ffmpeg to flush its trailer on SIGTERM, short enough for a prompt cancel.
TERM_GRACE_SECONDS = 2.0
# The end of stderr kept for error messages: ffmpeg prints its reason last.
STDERR_TAIL_BYTES = 4096
# ffprobe's JSON for any real upload is far smaller; a hostile file must not fill memory.
STDOUT_CAPTURE_LIMIT = 8 * 1024 * 1024
# How long reader threads may take to drain pipes once the group is gone.
_READER_JOIN_SECONDS = 5.0
# The kernel sends the child SIGKILL when the thread that started it dies (our process, here:
# jobs run on the worker's main thread). setpriv sets it and then execs the binary in place.
_SETPRIV = shutil.which("setpriv")
DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []


def _executable(name: str) -> str:
    """The path of `name` (as the shell finds it); the OSError Popen would raise if none."""
    found = shutil.which(name)
    if found:
        return found
    if os.path.exists(name):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


class LineWatcher(Protocol):
    """Reads the child's stdout line by line (in a reader thread) and says when it last moved."""

    last_activity: float

    def feed(self, line: str) -> None: ...


class ProcessStalled(Exception):
    """The child showed no activity for `seconds`; its process group has been killed."""

    reason = StopReason.STALL

    def __init__(self, seconds: float, stderr_tail: str) -> None:
        super().__init__(f"no activity for {seconds:g} s")
        self.seconds = seconds
        self.stderr_tail = stderr_tail


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stdout: str
    stderr_tail: str


def kill_process_group(proc: subprocess.Popen[bytes], grace: float = TERM_GRACE_SECONDS) -> None:
    """SIGTERM the group, give it `grace` seconds, then SIGKILL whatever is left and reap."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Always, even after a clean exit: a grandchild may still hold the group.
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # The group is gone already (ESRCH) or holds only a zombie leader (EPERM on some kernels).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class _Collector:
    """Drains one pipe in a thread so the child never blocks on a full pipe."""

    def __init__(self, stream, on_line: Callable[[str], None] | None, limit: int) -> None:
        self._stream = stream
        self._on_line = on_line
        self._limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for raw in iter(self._stream.readline, b""):
            if self._on_line is not None:
                self._on_line(raw.decode("utf-8", "replace").strip())
                continue
            self._chunks.append(raw)
            self._size += len(raw)
            while self._size > self._limit and len(self._chunks) > 1:
                self._size -= len(self._chunks.pop(0))
        self._stream.close()

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def tail(self, size: int) -> str:
        return b"".join(self._chunks)[-size:].decode("utf-8", "replace").strip()


def run_process(
    cmd: Sequence[str],
    *,
    cwd: Path,
    stop_reason: Callable[[], StopReason | None],
    stall_seconds: float,
    poll_interval: float = 0.5,
    watcher: LineWatcher | None = None,
    on_poll: Callable[[], None] | None = None,
) -> ProcessResult:
    """Run `cmd` in `cwd` and return its exit code and output once it ends.

    With a `watcher`, stdout lines go to it and "stalled" means its `last_activity` is older
    than `stall_seconds`; without one stdout is captured and `stall_seconds` is a plain
    timeout. `on_poll` runs in this thread after every poll (progress reporting).
    Raises JobStopped(reason) when `stop_reason` returns a reason and ProcessStalled on a
    stall; in every path the process group is dead and reaped when this returns or raises.
    """
    reason = stop_reason()
    if reason:
        raise JobStopped(reason)
    started = time.monotonic()
    argv = [_executable(cmd[0]), *cmd[1:]]
    proc = subprocess.Popen(
        [*DIE_WITH_PARENT, *argv],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out = _Collector(proc.stdout, watcher.feed if watcher else None, STDOUT_CAPTURE_LIMIT)
    err = _Collector(proc.stderr, None, STDERR_TAIL_BYTES * 4)
    stalled = False
    try:
        while True:
            try:
                proc.wait(timeout=poll_interval)
                break
            except subprocess.TimeoutExpired:
                pass
            reason = stop_reason()
            if reason:
                raise JobStopped(reason)
            if on_poll is not None:
                on_poll()
            last = max(started, watcher.last_activity) if watcher else started
            if time.monotonic() - last > stall_seconds:
                stalled = True
                break
    finally:
        kill_process_group(proc)
        out.thread.join(_READER_JOIN_SECONDS)
        err.thread.join(_READER_JOIN_SECONDS)
    if stalled:
        raise ProcessStalled(stall_seconds, err.tail(STDERR_TAIL_BYTES))
    return ProcessResult(proc.returncode, out.text(), err.tail(STDERR_TAIL_BYTES))
