"""`ws://…/ws/v1/videos/{id}` on the real PostgreSQL and Redis, through the ASGI application
(Channels' WebsocketCommunicator): the worker's Redis adapter publishes, the client sees."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import signing
from structlog.testing import capture_logs
from uvicorn.protocols.utils import ClientDisconnected

from academy.asgi import application
from apps.api.live.service import run_blocking
from apps.api.live.tokens import SALT
from src.application.domain import ErrorCode
from tests.e2e.tcp_proxy import TcpProxy
from tests.integration.live.conftest import WORKER, LiveHarness, eventually, progress_adapter
from tests.services import redis_test_url

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def connect(path: str, headers: list[tuple[bytes, bytes]] | None = None):
    return WebsocketCommunicator(
        application, path, headers=[(b"host", b"testserver"), *(headers or [])]
    )


async def opened(communicator) -> None:
    accepted, _ = await communicator.connect(timeout=10)
    assert accepted


async def closed(communicator, timeout: float = 10) -> dict:
    """Skip messages up to the close frame; return it."""
    while True:
        out = await communicator.receive_output(timeout)
        if out["type"] == "websocket.close":
            return out


async def publish(live: LiveHarness, lease, percent: float, step: str = "transcode") -> None:
    await asyncio.to_thread(
        live.worker_progress.record_progress, lease.tenant_id, lease.video_id, percent, step, WORKER
    )


def test_connect_progress_ready_then_a_normal_close(live: LiveHarness):
    vid = live.video()

    async def scenario():
        ws = connect(f"/ws/v1/videos/{vid}?token={live.token(vid)}")
        await opened(ws)
        connected = await ws.receive_json_from(timeout=10)
        lease = await run_blocking(lambda: live.claim(vid))
        claimed = await ws.receive_json_from(timeout=10)
        progress = []
        for percent in (12.5, 50.0, 87.5):
            await publish(live, lease, percent)
            progress.append(await ws.receive_json_from(timeout=10))
        await run_blocking(lambda: live.complete(lease))
        ready = await ws.receive_json_from(timeout=10)
        close = await closed(ws)
        return connected, claimed, progress, ready, close

    connected, claimed, progress, ready, close = asyncio.run(scenario())
    assert set(connected) == {
        "type", "video_id", "status", "percent", "step", "trace_id", "timestamp"
    }  # fmt: skip
    assert (connected["type"], connected["video_id"], connected["status"]) == (
        "connected",
        vid,
        "UPLOADED",
    )
    assert (claimed["type"], claimed["status"]) == ("progress", "PROCESSING")
    assert [(m["type"], m["percent"], m["step"]) for m in progress] == [
        ("progress", 12.5, "transcode"),
        ("progress", 50.0, "transcode"),
        ("progress", 87.5, "transcode"),
    ]
    assert all(m["updated_at"] and m["timestamp"] for m in progress)
    assert (ready["type"], ready["status"], ready["percent"]) == ("ready", "READY", 100.0)
    playback_id = ready["video"]["playback_id"]
    assert ready["assets"]["master_playlist_url"].startswith(
        f"http://testserver/media/{playback_id}/master.m3u8?token="
    )
    assert ready["video"]["id"] == vid and ready["video"]["duration_seconds"] == 12.0
    assert close["code"] == 1000


def test_a_client_connecting_after_the_end_gets_the_terminal_event_at_once(live: LiveHarness):
    vid = live.video()
    lease = live.claim(vid)
    live.repository.fail(lease, ErrorCode.PROBE_FAILED, "not a video file", retryable=False)

    async def scenario():
        ws = connect(f"/ws/v1/videos/{vid}?token={live.token(vid)}")
        await opened(ws)
        started = time.monotonic()
        messages = [await ws.receive_json_from(timeout=5), await ws.receive_json_from(timeout=5)]
        close = await closed(ws)
        return messages, close, time.monotonic() - started

    messages, close, took = asyncio.run(scenario())
    assert [m["type"] for m in messages] == ["connected", "failed"]
    assert messages[1]["error"] == {"code": "PROBE_FAILED", "message": "not a video file"}
    assert close["code"] == 1000
    assert took < 2, "no wait for a poll: the row already says it ended"


def test_a_server_client_may_use_its_api_key_header(live: LiveHarness):
    vid = live.video()
    live.repository.cancel(vid)

    async def scenario():
        ws = connect(f"/ws/v1/videos/{vid}", [(b"authorization", f"Bearer {live.key}".encode())])
        await opened(ws)
        types = [(await ws.receive_json_from(timeout=5))["type"] for _ in range(2)]
        return types, await closed(ws)

    types, close = asyncio.run(scenario())
    assert types == ["connected", "canceled"] and close["code"] == 1000


def _expired_token(tenant_id: int, video_id: int) -> str:
    class Yesterday(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 86400)

    signer = Yesterday(key=settings.CONFIG.secret_key, salt=SALT)
    return signer.sign_object({"t": tenant_id, "v": video_id})


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("no credential", 4401, "no credential: pass ?token="),
        ("tampered token", 4401, "the progress token is not valid"),
        ("expired token", 4401, "the progress token has expired"),
        ("token for another video", 4403, "the progress token is for another video"),
        ("revoked or unknown key", 4401, "the API key is not valid"),
        ("another tenant's video", 4404, "there is no video"),
        ("no such video", 4404, "there is no video"),
    ],
)
def test_refusals_close_with_a_clear_code_and_reason(live: LiveHarness, case, code, reason):
    vid = live.video()
    other_tenant, other_key = live.new_tenant("academy-other")
    others_video = live.video(other_tenant)
    path, headers = {
        "no credential": (f"/ws/v1/videos/{vid}", []),
        "tampered token": (f"/ws/v1/videos/{vid}?token={live.token(vid)[:-2]}xx", []),
        "expired token": (f"/ws/v1/videos/{vid}?token={_expired_token(live.tenant.id, vid)}", []),
        "token for another video": (f"/ws/v1/videos/{vid}?token={live.token(others_video)}", []),
        "revoked or unknown key": (
            f"/ws/v1/videos/{vid}",
            [(b"x-api-key", (live.key[:-4] + "abcd").encode())],
        ),
        # A token the other tenant got for its own video, pointed at ours, is refused as
        # another video's; one forged for our video under their tenant finds nothing.
        "another tenant's video": (
            f"/ws/v1/videos/{vid}?token={live.token(vid, other_tenant)}",
            [],
        ),
        "no such video": (
            f"/ws/v1/videos/{vid + 1000}",
            [(b"authorization", f"Bearer {other_key}".encode())],
        ),
    }[case]

    async def scenario():
        ws = connect(path, headers)
        await opened(ws)
        return await ws.receive_output(5)

    close = asyncio.run(scenario())
    assert close["type"] == "websocket.close", f"{case}: nothing is sent before the close"
    assert close["code"] == code, case
    assert close["reason"].startswith(reason), close["reason"]


def test_a_deleted_video_closes_the_stream_with_4404(live: LiveHarness):
    vid = live.video()

    async def scenario():
        ws = connect(f"/ws/v1/videos/{vid}?token={live.token(vid)}")
        await opened(ws)
        await ws.receive_json_from(timeout=10)
        await run_blocking(lambda: live.repository.delete(vid))
        return await closed(ws)

    close = asyncio.run(scenario())
    assert (close["code"], close["reason"]) == (4404, f"video {vid} was deleted")


def test_redis_down_the_stream_says_so_polls_the_row_and_comes_back(live: LiveHarness, settings):
    """Redis behind a proxy the test cuts and restores: the stream reports polling, goes
    live again when Redis is back, and ends with `ready` read from the row when the
    announcement cannot reach Redis."""
    proxy = TcpProxy(6379)
    proxy.start()
    proxied = redis_test_url(13, proxy.port)
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {
            **layer,
            "CONFIG": {
                **layer["CONFIG"],
                "hosts": [{"address": proxied, "socket_connect_timeout": 1}],
            },
        }
    }
    live.rebuild(progress_adapter(proxied), progress_poll_seconds=1)
    vid = live.video()
    lease = live.claim(vid)

    async def scenario():
        seen = {}
        ws = connect(f"/ws/v1/videos/{vid}?token={live.token(vid)}")
        await opened(ws)
        seen["connected"] = await ws.receive_json_from(timeout=10)
        await publish(live, lease, 30.0)
        seen["first"] = await ws.receive_json_from(timeout=10)
        proxy.cut()
        cut_at = time.monotonic()
        seen["polling"] = await ws.receive_json_from(timeout=15)
        seen["noticed_after"] = time.monotonic() - cut_at
        proxy.start()
        seen["live"] = await ws.receive_json_from(timeout=15)
        await publish(live, lease, 60.0)
        seen["after"] = await ws.receive_json_from(timeout=10)
        proxy.cut()
        await ws.receive_json_from(timeout=15)  # polling again
        await run_blocking(lambda: live.complete(lease))  # announced to a Redis it cannot reach
        seen["ready"] = await ws.receive_json_from(timeout=10)
        seen["close"] = await closed(ws)
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        proxy.cut()
    assert seen["connected"]["status"] == "PROCESSING"
    assert seen["first"]["percent"] == 30.0
    polling = seen["polling"]
    assert (polling["type"], polling["mode"]) == ("stream", "polling")
    assert "Redis is down" in polling["detail"] and "every 1 s" in polling["detail"]
    assert seen["noticed_after"] < 8, "noticed within a few poll intervals"
    assert (seen["live"]["type"], seen["live"]["mode"]) == ("stream", "live")
    assert (seen["after"]["type"], seen["after"]["percent"]) == ("progress", 60.0)
    assert seen["ready"]["type"] == "ready" and seen["close"]["code"] == 1000


def test_get_video_hands_out_a_progress_token_that_opens_the_stream(live: LiveHarness):
    from datetime import UTC, datetime

    from django.test import Client

    vid = live.video()
    response = Client().get(f"/api/v1/videos/{vid}", headers={"X-API-Key": live.key})
    assert response.status_code == 200
    body = response.json()
    assert body["progress_token"] == body["live"]["progress_token"]
    assert body["live"]["websocket_url"] == f"ws://testserver/ws/v1/videos/{vid}"
    assert body["live"]["events_url"] == f"http://testserver/api/v1/videos/{vid}/events"
    expires = datetime.fromisoformat(body["live"]["progress_token_expires_at"])
    left = (expires - datetime.now(UTC)).total_seconds()
    assert (
        settings.CONFIG.progress_token_ttl_seconds - 60
        < left
        <= (settings.CONFIG.progress_token_ttl_seconds)
    )

    async def scenario():
        ws = connect(f"/ws/v1/videos/{vid}?token={body['progress_token']}")
        await opened(ws)
        first = await ws.receive_json_from(timeout=10)
        await ws.disconnect()
        return first

    assert asyncio.run(scenario())["type"] == "connected"


def test_a_client_that_leaves_while_a_message_is_on_its_way_ends_the_stream_quietly(
    live: LiveHarness,
):
    """The browser navigates away between two messages: the server (uvicorn) raises
    ClientDisconnected on the next send before the disconnect reaches the consumer. That is a
    client leaving, not a server error: no LIVE_STREAM_ERROR, and the stream stops."""
    vid = live.video()
    gone = asyncio.Event()

    async def server(scope, receive, send):
        async def sending(message):
            if gone.is_set() and message["type"] in ("websocket.send", "websocket.close"):
                raise ClientDisconnected()
            await send(message)

        await application(scope, receive, sending)

    async def scenario():
        ws = WebsocketCommunicator(server, f"/ws/v1/videos/{vid}?token={live.token(vid)}")
        await opened(ws)
        assert (await ws.receive_json_from(timeout=10))["type"] == "connected"
        gone.set()
        await run_blocking(lambda: live.claim(vid))  # the "progress" message has no one to reach
        await eventually(
            lambda: any(e["event"] == "LIVE_STREAM_CLIENT_GONE" for e in logs),
            what="the consumer to notice the client left",
        )
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    with capture_logs() as logs:
        asyncio.run(scenario())
    events = [e["event"] for e in logs]
    assert "LIVE_STREAM_ERROR" not in events, logs
    assert events.count("LIVE_STREAM_CLIENT_GONE") == 1
