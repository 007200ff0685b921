"""UrllibWebhookTransport: one signed POST per attempt, to the address the guard checked.

Signing is Standard Webhooks' (the `standardwebhooks` package): `webhook-id`,
`webhook-timestamp` (the send time, in seconds) and `webhook-signature: v1,<base64 HMAC-SHA256
of id.timestamp.body>`. The connection goes to the checked IP with the URL's host name for
SNI, the certificate check and the Host header; redirects are returned, never followed; at
most a short excerpt of the answer is read.

The timeout is a hard deadline on the whole attempt (resolving, connecting, sending, the
status line, headers and excerpt): urllib3's own timeouts bound each socket read, so a receiver
trickling a byte a second would otherwise hold an attempt for as long as it likes. At the
deadline the socket is shut down from a timer, which ends any read in progress.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import urllib3
from standardwebhooks.webhooks import Webhook

from src.application.ports.webhooks import AttemptOutcome, WebhookTransport
from src.infrastructure.webhooks.address_guard import Destination, UnsafeWebhookUrl, resolve

USER_AGENT = "academy-video-webhooks/1"
EXCERPT_BYTES = 500  # what the delivery log keeps of an answer
# How long past its deadline an attempt may still take (closing the socket, a thread's
# wake-up): the dispatcher's claim outlives the timeout by far more than this.
DEADLINE_SLACK_SECONDS = 1.0


class _Deadline:
    """The end of one attempt: sockets registered here are shut down when it passes."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # a blocked recv or send returns at once
    except OSError:
        pass  # already closed


def _watched(base: type) -> type:
    """`base` (urllib3's HTTP or HTTPS connection) registering its socket with a deadline."""

    class Watched(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, deadline: _Deadline, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._deadline = deadline

        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            self._deadline.watch(sock)  # before TLS: the handshake is covered too
            return sock

    return Watched


_WATCHED_HTTP = _watched(urllib3.connection.HTTPConnection)
_WATCHED_HTTPS = _watched(urllib3.connection.HTTPSConnection)


def _resolve_within(
    url: str, deadline: _Deadline, allow_insecure: bool, allow_private: bool
) -> Destination:
    """The guard's resolve, given up at the deadline (getaddrinfo cannot be interrupted: a
    slow resolver's thread is left to finish on its own)."""
    done: list[Destination | BaseException] = []

    def run() -> None:
        try:
            done.append(resolve(url, allow_insecure=allow_insecure, allow_private=allow_private))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            done.append(exc)

    thread = threading.Thread(target=run, name="webhook-dns", daemon=True)
    thread.start()
    thread.join(deadline.left())
    if not done:
        raise TimeoutError("resolving the host timed out")
    if isinstance(done[0], BaseException):
        raise done[0]
    return done[0]


def signed_headers(message_id: str, secret: str, body: str, now: float) -> dict[str, str]:
    """The Standard Webhooks headers for `body` sent at `now` (epoch seconds)."""
    timestamp = datetime.fromtimestamp(int(now), UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


class UrllibWebhookTransport(WebhookTransport):
    def __init__(
        self, *, timeout_seconds: float, allow_insecure: bool = False, allow_private: bool = False
    ) -> None:
        self.timeout = timeout_seconds
        self.allow_insecure = allow_insecure
        self.allow_private = allow_private

    @property
    def max_attempt_seconds(self) -> float:
        return self.timeout + DEADLINE_SLACK_SECONDS

    def send(self, url: str, message_id: str, secret: str, body: str) -> AttemptOutcome:
        started = time.monotonic()
        deadline = _Deadline(self.timeout)
        try:
            return self._send(url, message_id, secret, body, deadline, started)
        finally:
            deadline.cancel()

    def _send(
        self, url: str, message_id: str, secret: str, body: str, deadline: _Deadline, started: float
    ) -> AttemptOutcome:
        try:
            dest = _resolve_within(url, deadline, self.allow_insecure, self.allow_private)
        except UnsafeWebhookUrl as exc:
            return AttemptOutcome(error=f"refused: {exc}"[:500], refused=True)
        except TimeoutError:
            return AttemptOutcome(error="timed out", duration_ms=_ms_since(started))
        default_port = 443 if dest.scheme == "https" else 80
        headers = {
            "Host": dest.host if dest.port == default_port else f"{dest.host}:{dest.port}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(message_id, secret, body, time.time()),
        }
        timeout = urllib3.Timeout(total=max(deadline.left(), 0.001))
        if dest.scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                dest.address,
                dest.port,
                server_hostname=dest.host,
                assert_hostname=dest.host,
                cert_reqs="CERT_REQUIRED",
                timeout=timeout,
                retries=False,
                maxsize=1,
                deadline=deadline,
            )
            pool.ConnectionCls = _WATCHED_HTTPS
        else:
            pool = urllib3.HTTPConnectionPool(
                dest.address,
                dest.port,
                timeout=timeout,
                retries=False,
                maxsize=1,
                deadline=deadline,
            )
            pool.ConnectionCls = _WATCHED_HTTP
        try:
            response = pool.urlopen(
                "POST",
                dest.path,
                body=body.encode(),
                headers=headers,
                retries=False,
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
            if deadline.expired:  # the headers were cut off: no answer was given
                response.release_conn()
                return AttemptOutcome(error="timed out", duration_ms=_ms_since(started))
            # The status is in: what of the excerpt arrives before the deadline is kept.
            excerpt = _read_excerpt(response, deadline)
            return AttemptOutcome(
                status_code=response.status,
                duration_ms=_ms_since(started),
                retry_after=response.headers.get("Retry-After"),
                response_excerpt=excerpt.decode("utf-8", "replace"),
                error="" if 200 <= response.status < 300 else f"HTTP {response.status}",
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = "timed out" if deadline.expired else _describe(exc)
            return AttemptOutcome(error=error, duration_ms=_ms_since(started))
        finally:
            pool.close()


def _read_excerpt(response: urllib3.BaseHTTPResponse, deadline: _Deadline) -> bytes:
    excerpt = b""
    try:
        while len(excerpt) < EXCERPT_BYTES and not deadline.expired:
            chunk = response.read1(EXCERPT_BYTES - len(excerpt), decode_content=False)
            if not chunk:
                break
            excerpt += chunk
    except (urllib3.exceptions.HTTPError, OSError):
        pass  # cut off (the deadline, or the receiver hung up): keep what came
    finally:
        response.release_conn()
    return excerpt


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(exc: Exception) -> str:
    # NewConnectionError is a ConnectTimeoutError subclass in urllib3: ask about it first.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "connection refused or unreachable"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS failed: {exc}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
