"""`ws://…/ws/v1/videos/{id}`: one video's live progress over a WebSocket (Channels).

The server accepts the handshake first, so a refusal can say why: it closes with 4401 (no,
bad or expired credential), 4403 (a token for another video) or 4404 (no such video, another
tenant's, or deleted meanwhile) and a reason. A stream that ends normally — its last
message sent: the terminal one, or after a `ready` that says `more`, the `captions` message
that does not — closes with 1000; an unexpected error closes with 1011. A client that leaves
while a message is on its way (the server raises OSError on the send, as uvicorn's
ClientDisconnected does, before the disconnect reaches `disconnect`) ends the stream quietly:
leaving is what clients do, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

import structlog
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.api.http.trace import trace_id_from
from apps.api.live.access import StreamRefused, not_found
from apps.api.live.messages import encode, message
from apps.api.live.service import open_stream
from src.application.domain import ErrorCode
from src.application.live_progress import IDLE
from src.application.video_errors import VideoNotFound

log = structlog.get_logger("apps.api.live")

NORMAL_CLOSURE = 1000
INTERNAL_ERROR = 1011


class ScopeUrls:
    """Absolute URLs (asset links) for the host and scheme the client connected with."""

    def __init__(self, scope: dict) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("x-forwarded-host") or headers.get("host") or "localhost"
        secure = scope.get("scheme") in ("wss", "https")
        self.origin = f"{'https' if secure else 'http'}://{host.split(',')[0].strip()}"

    def build_absolute_uri(self, location: str) -> str:
        return f"{self.origin}{location}"


class NoSuchStreamConsumer(AsyncWebsocketConsumer):
    """A WebSocket to a path with no stream: accepted, then closed with 4404 and why."""

    channel_layer_alias = "no-consumer-channel"

    async def connect(self) -> None:
        await self.accept()
        refused = StreamRefused(404, ErrorCode.NOT_FOUND, "there is no stream at this path")
        log.info("LIVE_STREAM_REFUSED", code=refused.close_code, reason=refused.message)
        await self.close(code=refused.close_code, reason=refused.reason)


class VideoProgressConsumer(AsyncWebsocketConsumer):
    # The stream subscribes through its own feed; the consumer needs no channel of its own.
    channel_layer_alias = "no-consumer-channel"

    async def connect(self) -> None:
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]
        }
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        video_id = int(self.scope["url_route"]["kwargs"]["video_id"])
        self.log = log.bind(video_id=video_id, trace_id=trace_id_from(headers))
        self.task: asyncio.Task | None = None
        await self.accept()
        try:
            stream = await open_stream(video_id, (query.get("token") or [""])[0], headers)
        except StreamRefused as refused:
            self.log.info("LIVE_STREAM_REFUSED", code=refused.close_code, reason=refused.message)
            await self.close(code=refused.close_code, reason=refused.reason)
            return
        except Exception:  # the database is down, say: the client may try again later
            self.log.exception("LIVE_STREAM_ERROR")
            await self.close(code=INTERNAL_ERROR, reason="the service is unavailable; reconnect")
            return
        self.log = self.log.bind(tenant_id=stream.tenant_id)
        self.log.info("LIVE_STREAM_OPENED", transport="websocket")
        self.task = asyncio.ensure_future(self._stream(stream.first, stream.events, video_id))

    async def _stream(self, first, events, video_id: int) -> None:
        urls = ScopeUrls(self.scope)
        try:
            event = first
            while True:
                if event.type != IDLE and not await self._sent(encode(message(event, urls))):
                    return
                if event.last:
                    self.log.info("LIVE_STREAM_ENDED", last=event.type)
                    await self.close(code=NORMAL_CLOSURE)
                    return
                event = await anext(events)
        except VideoNotFound:
            refused = not_found(video_id, f"video {video_id} was deleted")
            await self.close(code=refused.close_code, reason=refused.reason)
        except StreamRefused as refused:  # the key behind the stream was revoked
            self.log.info("LIVE_STREAM_REFUSED", code=refused.close_code, reason=refused.message)
            await self.close(code=refused.close_code, reason=refused.reason)
        except Exception:
            self.log.exception("LIVE_STREAM_ERROR")
            await self.close(code=INTERNAL_ERROR, reason="internal error; reconnect")
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()

    async def _sent(self, text: str) -> bool:
        """Send one message; False when the client has already gone (the stream ends)."""
        try:
            await self.send(text_data=text)
        except OSError:
            self.log.info("LIVE_STREAM_CLIENT_GONE", transport="websocket")
            return False
        return True

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients have nothing to say on this stream; what they send is ignored."""

    async def disconnect(self, code: int) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
