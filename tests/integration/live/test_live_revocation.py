"""A progress token stops with its API key; a WebSocket to no stream is a 4404, never a 500."""

from __future__ import annotations

import asyncio

import pytest

from apps.api.keys.api_keys import revoke, split_prefix
from apps.api.live.service import run_blocking
from tests.integration.live.conftest import LiveHarness
from tests.integration.live.test_live_websocket import closed, connect, opened

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


def test_a_token_of_a_revoked_key_opens_no_stream(live: LiveHarness):
    vid = live.video()
    token = live.token(vid)
    revoke(split_prefix(live.key))

    async def scenario():
        ws = connect(f"/ws/v1/videos/{vid}?token={token}")
        await opened(ws)
        return await ws.receive_output(5)

    close = asyncio.run(scenario())
    assert close["type"] == "websocket.close", "nothing is sent before the close"
    assert (close["code"], close["reason"]) == (4401, "the API key has been revoked")


def test_an_open_stream_ends_when_its_key_is_revoked(live: LiveHarness, monkeypatch):
    monkeypatch.setattr("apps.api.live.service.KEY_RECHECK_SECONDS", 0.5)
    live.rebuild(progress_poll_seconds=1)  # quiet streams wake every second
    vid = live.video()
    token = live.token(vid)

    async def scenario():
        ws = connect(f"/ws/v1/videos/{vid}?token={token}")
        await opened(ws)
        assert (await ws.receive_json_from(timeout=10))["type"] == "connected"
        await run_blocking(lambda: revoke(split_prefix(live.key)))
        return await closed(ws, timeout=15)

    close = asyncio.run(scenario())
    assert (close["code"], close["reason"]) == (4401, "the API key has been revoked")


def test_the_sse_stream_ends_with_an_error_event_when_its_key_is_revoked(live, monkeypatch):
    from django.test import AsyncClient

    monkeypatch.setattr("apps.api.live.service.KEY_RECHECK_SECONDS", 0.5)
    live.rebuild(progress_poll_seconds=1)
    vid = live.video()
    token = live.token(vid)

    async def scenario():
        response = await AsyncClient().get(f"/api/v1/videos/{vid}/events?token={token}")
        assert response.status_code == 200
        frames = response.streaming_content
        seen = ""
        async for chunk in frames:
            seen += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: connected" in seen and "revoked" not in seen:
                await run_blocking(lambda: revoke(split_prefix(live.key)))
            if "event: error" in seen:
                break
        return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert "the API key has been revoked" in seen


@pytest.mark.parametrize(
    "path",
    [
        "/ws/v1/videos/99999999999999999999999",
        "/ws/v1/videos/9223372036854775808",
        "/ws/v1/videos/abc",
        "/ws/v2/anything",
        "/",
    ],
)
def test_a_websocket_to_no_stream_is_closed_4404(live: LiveHarness, path):
    async def scenario():
        ws = connect(path)
        await opened(ws)
        return await ws.receive_output(5)

    close = asyncio.run(scenario())
    assert close["type"] == "websocket.close"
    assert close["code"] == 4404
