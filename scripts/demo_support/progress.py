"""The live view: one progress bar per video, redrawn in place on a terminal, plain lines
(at most one per second per video) when stdout is a file or a CI log."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

TERMINAL = ("READY", "FAILED", "CANCELED")
BAR_WIDTH = 24  # in plain output; on a terminal the bar takes what the width leaves
BAR_WIDTH_MIN, BAR_WIDTH_MAX = 10, 40
TITLE_WIDTH_MAX = 32
# Room kept for the activity text ("transcode on worker-1"), so the bar keeps its width.
ACTIVITY_WIDTH = 24
# Plain output: a video's line is repeated at most this often, so CI logs stay readable.
PLAIN_MIN_INTERVAL_SECONDS = 1.0


@dataclass
class VideoState:
    title: str
    video_id: int | None = None  # known once its upload_video command has finished
    tenant_id: int | None = None
    status: str = "WAITING"  # then UPLOADING, then the row's status
    error_code: str = ""
    percent: float | None = None  # from the Redis progress key, None before the first record
    step: str = ""
    worker_id: str = ""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def activity(self) -> tuple[float, str]:
        """(percent for the bar, what is happening): the row decides, Redis adds the detail."""
        if self.status == "WAITING":
            return 0.0, "waiting for its upload"
        if self.status == "UPLOADING":
            return 0.0, "uploading"
        if self.status == "READY":
            return 100.0, "ready"
        if self.status == "FAILED":
            return self.percent or 0.0, f"FAILED {self.error_code}".strip()
        if self.status == "CANCELED":
            return self.percent or 0.0, "canceled"
        if self.status == "UPLOADED":
            retrying = self.step == "retrying"
            return 0.0, "waiting to retry" if retrying else "queued"
        where = f" on {self.worker_id}" if self.worker_id else ""
        return self.percent or 0.0, f"{self.step or 'claimed'}{where}"


def bar(percent: float, width: int = BAR_WIDTH) -> str:
    filled = round(width * max(0.0, min(100.0, percent)) / 100)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class ProgressView:
    def __init__(
        self,
        out: TextIO,
        tty: bool,
        started: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`started`: the clock value elapsed times count from (default: now)."""
        self.out = out
        self.tty = tty
        self.clock = clock
        self.started = clock() if started is None else started
        self._drawn_lines = 0
        self._printed: dict[int, tuple[str, float]] = {}  # row index -> (text, when)

    def update(self, videos: list[VideoState], workers_alive: int, final: bool = False) -> None:
        if not videos:
            return
        title_width = min(TITLE_WIDTH_MAX, max(len(v.title) for v in videos))
        activities = [v.activity() for v in videos]
        columns = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        bar_width = BAR_WIDTH
        if self.tty:  # "  #12  <title> [<bar>] 100.0%  <what>" fits one terminal line
            longest = max(ACTIVITY_WIDTH, *(len(what) for _, what in activities))
            room = columns - (title_width + 19) - longest
            bar_width = max(BAR_WIDTH_MIN, min(BAR_WIDTH_MAX, room))
        lines = []
        for v, (percent, what) in zip(videos, activities, strict=True):
            number = "#-" if v.video_id is None else f"#{v.video_id}"
            title = v.title[:title_width].ljust(title_width)
            lines.append(f"{number:<4} {title} {bar(percent, bar_width)} {percent:5.1f}%  {what}")
        if self.tty:
            self._redraw(lines, sum(v.terminal for v in videos), workers_alive, columns)
        else:
            self._plain(lines, final)

    def _redraw(self, lines: list[str], done: int, workers_alive: int, columns: int) -> None:
        elapsed = self.clock() - self.started
        workers = f"{workers_alive} worker{'s' if workers_alive != 1 else ''} up"
        header = f"[{elapsed:6.1f}s] {done}/{len(lines)} finished, {workers}"
        frame = [header, *(f"  {line}" for line in lines)]
        # Back to the first line of the previous frame; a line never wraps, so counts hold.
        text = f"\x1b[{self._drawn_lines}F" if self._drawn_lines else ""
        text += "".join(f"\x1b[2K{line[:columns]}\n" for line in frame)
        self.out.write(text)
        self.out.flush()
        self._drawn_lines = len(frame)

    def _plain(self, lines: list[str], final: bool) -> None:
        now = self.clock()
        for index, text in enumerate(lines):
            last_text, last_at = self._printed.get(index, ("", -1e9))
            if text == last_text:
                continue
            if final or now - last_at >= PLAIN_MIN_INTERVAL_SECONDS:
                self.out.write(f"[{now - self.started:6.1f}s] {text}\n")
                self._printed[index] = (text, now)
        self.out.flush()
