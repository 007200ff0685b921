"""`python -m academy.serve`: the web app under uvicorn with limits a public port needs.

uvicorn times out idle keep-alive connections but never a request whose headers arrive
slowly (a slow-loris client holds a connection forever): `HeaderTimeoutH11Protocol` closes a
connection whose request line and headers are not complete within `--header-timeout` seconds
of their first byte (or of the connection). Production still sits behind a proxy that times
out slow clients and bodies (infra/README.md); these limits are the server's own floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

# Seconds a client has to send a request's line and headers; a browser needs milliseconds.
HEADER_TIMEOUT_SECONDS = 10.0
# Seconds an idle keep-alive connection is kept (uvicorn's default).
KEEP_ALIVE_SECONDS = 5
# Connections and tasks at once per process before uvicorn answers 503: far above what one
# process serves well, low enough that a flood cannot exhaust file descriptors.
LIMIT_CONCURRENCY = 1000
# Bytes of request line and headers: Django's own hosts and cookies fit in far less.
MAX_HEADER_BYTES = 16 * 1024
# Seconds uvicorn lets requests in flight finish on SIGTERM before it closes them (streams
# included: clients reopen them); below every stop timeout the image and the stack set.
GRACEFUL_SHUTDOWN_SECONDS = 20
# The worker processes read the header timeout from here (uvicorn starts them afresh).
HEADER_TIMEOUT_ENV = "WEB_HEADER_TIMEOUT_SECONDS"


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # headers begun, not complete: the deadline runs
        else:
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            timeout = float(os.environ.get(HEADER_TIMEOUT_ENV, HEADER_TIMEOUT_SECONDS))
            self._header_timer = self.loop.call_later(timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def _positive(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="academy.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--header-timeout",
        type=_positive,
        default=_positive(os.environ.get(HEADER_TIMEOUT_ENV, str(HEADER_TIMEOUT_SECONDS))),
    )
    args = parser.parse_args(argv)
    os.environ[HEADER_TIMEOUT_ENV] = str(args.header_timeout)
    uvicorn.run(
        "academy.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=HeaderTimeoutH11Protocol,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=LIMIT_CONCURRENCY,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        # X-Forwarded-For/-Proto from the proxy in front (uvicorn trusts 127.0.0.1 only unless
        # FORWARDED_ALLOW_IPS names the proxy's addresses).
        proxy_headers=True,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


if __name__ == "__main__":
    main()
