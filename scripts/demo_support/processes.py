"""Child processes the demo starts, and how it stops every one of them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Linux prctl option: the kernel signals the child when the demo itself dies (even SIGKILL).
_PR_SET_PDEATHSIG = 1
# After the first SIGTERM: a worker finishing its shutdown still waits for its open SQS long
# poll (up to 25 s); a second SIGTERM tells it not to, and nothing is queued by then anyway.
SECOND_TERM_AFTER_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the demo goes away without cleaning up."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """A long-running child in its own session (the terminal's Ctrl-C reaches only the demo,
    which stops children in order); stdout and stderr go to one log file."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: dict[str, str],
        log_dir: Path,
        *,
        stdout: str = "log",
    ) -> None:
        """`stdout`: "log" (with stderr), "pipe" (read_line) or "file" (NAME.out, for a
        command whose stdout is its answer)."""
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.out_path = log_dir / f"{name}.out"
        self._log = open(self.log_path, "wb")  # closed by _close()
        self._out = open(self.out_path, "wb") if stdout == "file" else None
        self.proc = subprocess.Popen(
            list(args),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout == "pipe" else self._out or self._log,
            stderr=self._log,
            start_new_session=True,
            # preexec_fn is unsafe only beside other threads: the demo starts its threads
            # (webhook receiver, WebSocket followers) after its last child.
            preexec_fn=_die_with_parent,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def closed(self) -> bool:
        return self._log.closed

    def read_line(self, timeout: float) -> str:
        """The next stdout line (stdout="pipe"), or '' after `timeout` or at EOF."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().decode().strip() if ready else ""

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, signum: int, group: bool = False) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.proc.pid, signum)
            elif self.alive:
                self.proc.send_signal(signum)

    def _close(self) -> None:
        if self.closed:
            return
        # SIGKILL the group even after a clean exit: a grandchild (ffmpeg) may still hold it.
        self._signal(signal.SIGKILL, group=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self._out, self._log):
            if stream is not None:
                stream.close()


def stop_all(children: Sequence[Child], timeout: float) -> None:
    """SIGTERM all at once, SIGTERM again after a moment, SIGKILL what is left at `timeout`."""
    children = [c for c in children if not c.closed]
    for child in children:
        child._signal(signal.SIGTERM)
    started = time.monotonic()
    deadline = started + timeout
    second_sent = False
    while any(c.alive for c in children) and time.monotonic() < deadline:
        if not second_sent and time.monotonic() - started >= SECOND_TERM_AFTER_SECONDS:
            for child in children:
                child._signal(signal.SIGTERM)
            second_sent = True
        time.sleep(0.1)
    for child in children:
        child._close()
