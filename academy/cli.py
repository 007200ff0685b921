"""Command-line argument types shared by the worker and the management commands."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


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
