"""`GET /api/v1/videos/{id}/events` (Server-Sent Events) through the ASGI application, on the
real PostgreSQL and Redis: the same messages as the WebSocket, problem+json refusals, and a
client that goes away releases its subscription."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from asgiref.testing import ApplicationCommunicator

from academy.asgi import application
from apps.api.live.service import run_blocking
from src.infrastructure.cache.progress_events import events_channel
from tests.integration.live.conftest import WORKER, LiveHarness, eventually

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


class SseClient:
    """An HTTP client at the ASGI level that reads the body chunk by chunk, as it streams."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"testserver"), *(headers or [])],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.app = ApplicationCommunicator(application, scope)
        self.buffer = ""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.ended = False

    async def start(self) -> None:
        await self.app.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await self.app.receive_output(10)
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}

    async def body(self) -> str:
        while not self.ended:
            await self._chunk()
        return self.buffer

    async def _chunk(self) -> None:
        out = await self.app.receive_output(20)
        self.buffer += out.get("body", b"").decode()
        self.ended = not out.get("more_body", False)

    async def event(self) -> tuple[str, dict]:
        """The next `event:` frame (comments and `retry:` skipped)."""
        while True:
            while "\n\n" not in self.buffer:
                assert not self.ended, "the stream ended"
                await self._chunk()
            frame, self.buffer = self.buffer.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":")
            )
            if "event" in fields:
                return fields["event"], json.loads(fields["data"])

    async def disconnect(self) -> None:
        await self.app.send_input({"type": "http.disconnect"})
        await self.app.wait(10)


def test_sse_streams_connected_progress_and_ready_then_ends(live: LiveHarness):
    vid = live.video()

    async def scenario():
        sse = SseClient(f"/api/v1/videos/{vid}/events?token={live.token(vid)}")
        await sse.start()
        connected = await sse.event()
        lease = await run_blocking(lambda: live.claim(vid))
        claimed = await sse.event()
        await asyncio.to_thread(
            live.worker_progress.record_progress, live.tenant.id, vid, 64.0, "transcode", WORKER
        )
        progress = await sse.event()
        await run_blocking(lambda: live.complete(lease))
        ready = await sse.event()
        rest = await sse.body()
        return sse, connected, claimed, progress, ready, rest

    sse, connected, claimed, progress, ready, rest = asyncio.run(scenario())
    assert sse.status == 200
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.headers["cache-control"] == "no-cache"
    assert connected[0] == "connected" and connected[1]["status"] == "UPLOADED"
    assert claimed[0] == "progress" and claimed[1]["status"] == "PROCESSING"
    assert progress[0] == "progress" and progress[1]["percent"] == 64.0
    assert (
        ready[0] == "ready" and "/master.m3u8?token=" in (ready[1]["assets"]["master_playlist_url"])
    )
    assert rest == "" and sse.ended, "nothing after the terminal event: the response ends"


def test_sse_after_the_end_sends_connected_and_the_terminal_event_at_once(live: LiveHarness):
    vid = live.video()
    live.repository.cancel(vid)

    async def scenario():
        sse = SseClient(f"/api/v1/videos/{vid}/events", [(b"x-api-key", live.key.encode())])
        await sse.start()
        return await sse.body()

    body = asyncio.run(scenario())
    assert body.startswith("retry: 3000\n\n")
    assert "id: 1\nevent: connected\n" in body and "id: 2\nevent: canceled\n" in body


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no credential", 401, "UNAUTHENTICATED"),
        ("bad token", 401, "UNAUTHENTICATED"),
        ("token for another video", 403, "FORBIDDEN"),
        ("another tenant's video", 404, "NOT_FOUND"),
    ],
)
def test_sse_refusals_are_problem_json(live: LiveHarness, case, status, code):
    vid = live.video()
    _other, other_key = live.new_tenant("academy-sse-other")
    path, headers = {
        "no credential": (f"/api/v1/videos/{vid}/events", []),
        "bad token": (f"/api/v1/videos/{vid}/events?token=v1.nonsense", []),
        "token for another video": (
            f"/api/v1/videos/{vid}/events?token={live.token(live.video())}",
            [],
        ),
        "another tenant's video": (
            f"/api/v1/videos/{vid}/events",
            [(b"authorization", f"Bearer {other_key}".encode())],
        ),
    }[case]

    async def scenario():
        sse = SseClient(path, headers)
        await sse.start()
        return sse, await sse.body()

    sse, body = asyncio.run(scenario())
    problem = json.loads(body)
    assert sse.status == status
    assert sse.headers["content-type"] == "application/problem+json"
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["detail"] and problem["trace_id"]
    if status == 401:
        assert sse.headers["www-authenticate"].startswith("Bearer")


def test_a_client_that_goes_away_releases_its_subscription(live: LiveHarness):
    vid = live.video()
    channel = events_channel(live.services.config.live_channel_prefix, live.tenant.id, vid)
    subscribers = redis.Redis.from_url(live.redis_url)

    def count() -> int:
        return dict(subscribers.pubsub_numsub(channel)).get(channel.encode(), 0)

    async def scenario():
        sse = SseClient(f"/api/v1/videos/{vid}/events?token={live.token(vid)}")
        await sse.start()
        await sse.event()
        during = count()
        await sse.disconnect()
        await eventually(lambda: count() == 0, what="the group's subscription to end")
        return during

    assert asyncio.run(scenario()) == 1
