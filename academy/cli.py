"""Command-line arguments shared by the worker and the management commands: argument types,
and the --metrics-port option of the commands that run in a loop (reconcile, the webhook
dispatcher)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from django.core.management.base import CommandError, CommandParser

from src.infrastructure import metrics

# The exit code of a command refused for its arguments (argparse's own).
USAGE = 2


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
