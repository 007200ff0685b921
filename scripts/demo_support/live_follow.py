"""Following one video's live progress over the API's WebSocket, as a client would.

`LiveFollower` is a thread: it asks GET /api/v1/videos/{id} once for a `progress_token` and
the stream's URL (`live.websocket_url`), opens `ws://…/ws/v1/videos/{id}?token=…` and hands
every JSON message (`connected`, `progress`, `stream`, then `ready`/`failed`/`canceled`) to a
callback, until the terminal one. A stream cut short (the server restarting, 1011) is opened
again with a fresh token, a bounded number of times. What it saw is kept in `seen`, so the
demo can say whether the percent came live (Redis pub/sub) or from the stream's polling
fallback (a `stream` message with mode `polling`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

TERMINAL_TYPES = ("ready", "failed", "canceled")
# A stream that ends without its terminal message is opened again, at most this many times.
MAX_CONNECTIONS = 5
RECONNECT_PAUSE_SECONDS = 0.5
OPEN_TIMEOUT_SECONDS = 10
# How often a waiting receive looks at the stop flag.
STOP_CHECK_SECONDS = 0.25


@dataclass
class Seen:
    """What one follower received, for the demo's summary."""

    video_id: int
    types: Counter = field(default_factory=Counter)  # message type -> how many
    modes: list[str] = field(default_factory=list)  # `stream` messages' modes, in order
    connections: int = 0
    closes: list[tuple[int | None, str]] = field(default_factory=list)  # (code, reason)
    terminal: dict[str, Any] | None = None  # the ready/failed/canceled message
    error: str = ""  # why the follow gave up (empty when it ended normally)

    @property
    def live(self) -> bool:
        """Progress arrived as it happened (pub/sub), never from the polling fallback."""
        return "polling" not in self.modes

    def summary(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.types.items()))
        how = "live (Redis pub/sub)" if self.live else "polling fallback (stream mode polling)"
        end = self.terminal["type"] if self.terminal else f"no terminal message ({self.error})"
        return (
            f"video {self.video_id}: {self.connections} connection(s), {counts}; "
            f"updates {how}; ended with {end}"
        )


class LiveFollower(threading.Thread):
    """One video's WebSocket, on a daemon thread; `on_message(video_id, message)` is called
    on this thread for each message, in order."""

    def __init__(
        self,
        video_id: int,
        stream_url: Callable[[], str],
        on_message: Callable[[int, dict[str, Any]], None],
    ) -> None:
        """`stream_url()` returns the WebSocket URL with a fresh `?token=` (one GET)."""
        super().__init__(name=f"live-follow-{video_id}", daemon=True)
        self.video_id = video_id
        self.stream_url = stream_url
        self.on_message = on_message
        self.seen = Seen(video_id)
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def finished(self) -> bool:
        return self.seen.terminal is not None or bool(self.seen.error)

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                if self.seen.connections >= MAX_CONNECTIONS:
                    self.seen.error = f"the stream ended {MAX_CONNECTIONS} times without its end"
                    return
                if self._follow_once():
                    return
                self._stopping.wait(RECONNECT_PAUSE_SECONDS)
        except Exception as exc:  # noqa: BLE001 - reported by the demo, never a thread traceback
            self.seen.error = f"{type(exc).__name__}: {exc}"

    def _follow_once(self) -> bool:
        """One connection; True once the terminal message arrived (or the stream refused)."""
        url = self.stream_url()
        self.seen.connections += 1
        try:
            ws = connect(url, open_timeout=OPEN_TIMEOUT_SECONDS, proxy=None, compression=None)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            self.seen.closes.append((None, f"could not connect: {exc}"))
            return False
        with ws:
            while not self._stopping.is_set():
                try:
                    raw = ws.recv(timeout=STOP_CHECK_SECONDS)
                except TimeoutError:
                    continue
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else None
                    reason = closed.rcvd.reason if closed.rcvd else "no close frame"
                    self.seen.closes.append((code, reason))
                    if code is not None and 4400 <= code < 4500:  # refused: retrying won't help
                        self.seen.error = f"the stream was refused ({code} {reason})"
                        return True
                    return False
                message = json.loads(raw)
                kind = str(message.get("type", "?"))
                self.seen.types[kind] += 1
                if kind == "stream":
                    self.seen.modes.append(str(message.get("mode", "")))
                self.on_message(self.video_id, message)
                if kind in TERMINAL_TYPES:
                    self.seen.terminal = message
                    return True
        return True  # stopped


def wait_all(followers: list[LiveFollower], timeout: float) -> None:
    """Join every follower within `timeout` in all (they are daemons: none outlives the demo)."""
    deadline = time.monotonic() + timeout
    for follower in followers:
        follower.stop()
    for follower in followers:
        follower.join(max(0.0, deadline - time.monotonic()))
