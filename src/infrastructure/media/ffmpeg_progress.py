"""Parse ffmpeg's `-progress pipe:1` key=value stream into encoded seconds."""

from __future__ import annotations

import time


class FfmpegProgress:
    """Fed from a reader thread; read from the watchdog thread (plain attribute writes)."""

    def __init__(self) -> None:
        self.out_seconds = 0.0
        self.frames = 0
        self.ended = False
        self.last_activity = time.monotonic()

    def feed(self, line: str) -> None:
        key, _, value = line.partition("=")
        if key == "out_time_us":
            self._advance(seconds=_number(value) / 1_000_000)
        elif key == "frame":
            self._advance(frames=int(_number(value)))
        elif key == "progress" and value == "end":
            self.ended = True

    def _advance(self, seconds: float = 0.0, frames: int = 0) -> None:
        # Activity means the encode moved forward; ffmpeg repeats blocks while it is stuck.
        if seconds > self.out_seconds:
            self.out_seconds = seconds
            self.last_activity = time.monotonic()
        if frames > self.frames:
            self.frames = frames
            self.last_activity = time.monotonic()

    def percent(self, duration_seconds: float) -> float:
        """0..100 of the source encoded so far; 100 only once ffmpeg says it ended."""
        if self.ended:
            return 100.0
        if duration_seconds <= 0:
            return 0.0
        return min(99.9, 100.0 * self.out_seconds / duration_seconds)


def _number(value: str) -> float:
    # Early blocks say N/A; a negative out_time shows up before the first packet.
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0
