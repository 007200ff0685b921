"""Real processes for benchmarks and end-to-end tests: start one with its JSON log in a file,
read its events, wait for one, stop or kill it. (The e2e tests use these too.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The real worker (sqs_main) with the FakeTranscoder: a job lasts FAKE_TRANSCODE_SECONDS.
FAKE_WORKER = [sys.executable, "-m", "bench.fake_worker"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


class ProcessLog:
    """A child process whose stdout (JSON lines) goes to a file we can read at any time."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.path = log_dir / f"{name}.log"
        self.err_path = log_dir / f"{name}.err"
        self._out = open(self.path, "w")
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._out, stderr=self._err, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.path.read_text().splitlines():
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.lines() if name is None or e.get("event") == name]

    def wait_event(self, name: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        def found():
            for e in self.events(name):
                if all(e.get(k) == v for k, v in match.items()):
                    return e
            if self.proc.poll() is not None and not self.events(name):
                raise AssertionError(f"{self.name} exited before {name}:\n{self.tail()}")
            return None

        return wait_until(found, timeout, what=f"{name} in {self.name}")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._out.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()

    def tail(self, n: int = 30) -> str:
        out = self.path.read_text().splitlines()[-n:]
        err = self.err_path.read_text().splitlines()[-n:]
        return "\n".join([*out, "--- stderr ---", *err])

    def problems(self) -> list[str]:
        """Tracebacks and error-level lines: a healthy run has none."""
        bad = [raw for raw in self.err_path.read_text().splitlines() if "Traceback" in raw]
        for e in self.lines():
            if e.get("exception") or e.get("level") in ("critical",):
                bad.append(json.dumps(e)[:500])
        return bad
