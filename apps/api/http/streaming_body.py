"""PUT .../source read as it arrives: an ASGI handler that does not spool that body.

Django's ASGIHandler reads every body whole — into a temporary file past 1 MiB — before the
view runs, so a source PUT used the temp folder for the whole file and then copied it to
storage (twice the disk, and the upload waited for both). For PUT /api/v1/videos/{id}/source
this handler gives the request a file-like body that pulls each ASGI message when the view
reads (the view runs on a thread; each read waits on the event loop), so the bytes go
straight to storage. Every other request is Django's as before.

Django listens for the client's disconnect while the view runs by calling `receive()`; for a
streamed body that listener waits until the body is read to its end, so it never takes a
body chunk from the view.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import io
import re
from typing import Any

from django.core.handlers.asgi import ASGIHandler
from django.http import UnreadablePostError

_SOURCE_PUT = re.compile(r"^/api/v1/videos/\d+/source/?$")


class ReceivedBody(io.RawIOBase):
    """The request body, read from ASGI `receive` on demand (from the view's thread)."""

    def __init__(self, receive) -> None:
        self._receive = receive
        # handle() builds this on the event loop; the view's thread hands each read to it, run
        # in this request's own context. Neither async_to_sync nor run_coroutine_threadsafe:
        # both carry the view thread's context (asgiref's executor of this request) into the
        # loop, and later requests then find that executor gone ("CurrentThreadExecutor
        # already quit or is broken", a 500).
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        self._buffer = b""
        self._more = True
        self.done = asyncio.Event()  # the body was read to its end (or the client left)

    def readable(self) -> bool:
        return True

    async def _next(self) -> None:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._more = False
            self.done.set()
            raise UnreadablePostError("the client disconnected before the body ended")
        self._buffer += message.get("body", b"")
        if not message.get("more_body", False):
            self._more = False
            self.done.set()

    def _on_loop(self, coroutine_function) -> concurrent.futures.Future:
        done: concurrent.futures.Future = concurrent.futures.Future()

        def start() -> None:
            task = self._loop.create_task(coroutine_function())

            def finish(task: asyncio.Task) -> None:
                if task.cancelled():
                    done.cancel()
                elif task.exception() is not None:
                    done.set_exception(task.exception())
                else:
                    done.set_result(task.result())

            task.add_done_callback(finish)

        self._loop.call_soon_threadsafe(start, context=self._context)
        return done

    def readinto(self, target) -> int:
        while not self._buffer and self._more:
            self._on_loop(self._next).result()
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(1024 * 1024):
                chunks.append(chunk)
            return b"".join(chunks)
        buffer = bytearray(size)
        return bytes(buffer[: self.readinto(buffer)])


class _AfterBody:
    """`receive` for Django's disconnect listener: waits until the view read the body."""

    def __init__(self, receive, body: ReceivedBody) -> None:
        self.receive, self.body = receive, body

    async def __call__(self) -> dict[str, Any]:
        await self.body.done.wait()
        return await self.receive()


class StreamingSourceASGIHandler(ASGIHandler):
    async def handle(self, scope, receive, send):
        if scope.get("method") == "PUT" and _SOURCE_PUT.match(scope.get("path", "")):
            body = ReceivedBody(receive)
            streaming = _StreamingReceive(_AfterBody(receive, body), body)
            return await super().handle(scope, streaming, send)
        return await super().handle(scope, receive, send)

    async def read_body(self, receive):
        if isinstance(receive, _StreamingReceive):
            return io.BufferedReader(receive.body, buffer_size=1024 * 1024)
        return await super().read_body(receive)


class _StreamingReceive:
    """What handle() passes on: a disconnect listener's `receive`, carrying the body."""

    def __init__(self, after_body: _AfterBody, body: ReceivedBody) -> None:
        self.after_body, self.body = after_body, body

    async def __call__(self) -> dict[str, Any]:
        return await self.after_body()
