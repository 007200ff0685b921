"""What the worker and the management commands share on the command line: argument types,
the --metrics-port option of the commands that run in a loop (reconcile, the webhook
dispatcher), the stop signals (`StopSignals`) and the periodic loop (`run_every`)."""

from __future__ import annotations

import argparse
import math
import signal
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError, CommandParser

from src.infrastructure import metrics
from src.infrastructure.liveness import LivenessFile

# The exit code of a command refused for its arguments (argparse's own).
USAGE = 2
# How often a waiting loop looks for a stop signal: a stop is acted on within this.
STOP_CHECK_SECONDS = 0.05


def seconds_type(minimum: float, maximum: float) -> Callable[[str], float]:
    """An argparse `type` for a finite number of seconds in [minimum, maximum].

    NaN, infinity and near-zero values are refused (argparse then exits 2 with the usage):
    float() alone accepts them, and they mean a loop that spins or one that never wakes.
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be a number of seconds from {minimum:g} to {maximum:g}, got {text!r}"
            )
        return value

    parse.__name__ = "seconds"  # argparse names the type in its messages
    return parse


def add_metrics_port_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="with --loop: serve Prometheus /metrics on PORT",
    )


def serve_metrics_port(port: int | None, loop: float | None) -> None:
    """Start serving /metrics on --metrics-port (nothing without one), before the loop starts.

    CommandError (exit 2) when there is no --loop (a single pass ends before any scrape), the
    port is out of range, or it cannot be bound (in use, or privileged).
    """
    if port is None:
        return
    if loop is None:
        raise CommandError("--metrics-port needs --loop", returncode=USAGE)
    if not 1 <= port <= 65535:
        raise CommandError("--metrics-port must be between 1 and 65535", returncode=USAGE)
    try:
        metrics.serve(port)
    except OSError as exc:
        raise CommandError(f"--metrics-port {port}: {exc}", returncode=USAGE) from None


class StopSignals:
    """SIGTERM and SIGINT, while installed, only record their name; the previous handlers come
    back on exit. Shared by the worker's loop and the commands' `run_every`.

    A handler must not take a lock (the interrupted code may hold one: logging, a socket), so
    it appends the name and nothing else; the loop notices on its next look.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: list[str] = []
        self._previous: dict[int, Any] = {}

    @property
    def first(self) -> str | None:
        """The name of the first signal received (None while there is none)."""
        return self.received[0] if self.received else None

    def install(self) -> None:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._record)

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        self.install()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.restore()

    def _record(self, signum: int, _frame: Any) -> None:
        self.received.append(signal.Signals(signum).name)


def run_every(
    interval: float,
    pass_: Callable[[Callable[[], bool]], object],
    on_error: Callable[[Exception], float],
    *,
    check_every: float = STOP_CHECK_SECONDS,
    liveness: LivenessFile | None = None,
) -> str | None:
    """Run `pass_` every `interval` seconds until SIGTERM or SIGINT; the signal's name.

    A pass starts `interval` seconds after the previous one started (at once when it took
    longer). `pass_` gets a `stopping()` predicate to end a long pass early; whatever it raises
    goes to `on_error`, which logs it and returns the least wait before the next pass (the loop
    outlives a database outage). The wait is cut short by a signal: the stop is seen within
    `check_every` seconds, after the pass in flight. Signal handlers are restored on return.
    After each pass, failed or not, `liveness` (the image's HEALTHCHECK file) is rewritten.
    """
    with StopSignals() as signals:

        def stopping() -> bool:
            return bool(signals.received)

        while not stopping():
            started = time.monotonic()
            next_at = started + interval
            try:
                pass_(stopping)
            except Exception as exc:  # noqa: BLE001 - one failed pass never ends the loop
                next_at = max(next_at, time.monotonic() + on_error(exc))
            if liveness is not None:
                liveness.beat()
            while not stopping() and (left := next_at - time.monotonic()) > 0:
                time.sleep(min(check_every, left))
        return signals.first
