"""UrllibWebhookTransport: one signed POST per attempt, to the address the guard checked.

Signing is Standard Webhooks' (the `standardwebhooks` package): `webhook-id`,
`webhook-timestamp` (the send time, in seconds) and `webhook-signature: v1,<base64 HMAC-SHA256
of id.timestamp.body>`. The connection goes to the checked IP with the URL's host name for
SNI, the certificate check and the Host header; redirects are returned, never followed; the
timeout bounds the whole attempt; at most a short excerpt of the answer is read.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import urllib3
from standardwebhooks.webhooks import Webhook

from src.application.ports.webhooks import AttemptOutcome, WebhookTransport
from src.infrastructure.webhooks.address_guard import UnsafeWebhookUrl, resolve

USER_AGENT = "academy-video-webhooks/1"
EXCERPT_BYTES = 500  # what the delivery log keeps of an answer


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

    def send(self, url: str, message_id: str, secret: str, body: str) -> AttemptOutcome:
        started = time.monotonic()
        try:
            dest = resolve(
                url, allow_insecure=self.allow_insecure, allow_private=self.allow_private
            )
        except UnsafeWebhookUrl as exc:
            return AttemptOutcome(error=f"refused: {exc}"[:500], refused=True)
        default_port = 443 if dest.scheme == "https" else 80
        headers = {
            "Host": dest.host if dest.port == default_port else f"{dest.host}:{dest.port}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(message_id, secret, body, time.time()),
        }
        timeout = urllib3.Timeout(total=self.timeout)
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
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                dest.address, dest.port, timeout=timeout, retries=False, maxsize=1
            )
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
            try:
                excerpt = response.read(EXCERPT_BYTES, decode_content=False)
            except urllib3.exceptions.HTTPError:
                excerpt = b""
            finally:
                response.release_conn()
            return AttemptOutcome(
                status_code=response.status,
                duration_ms=_ms_since(started),
                retry_after=response.headers.get("Retry-After"),
                response_excerpt=excerpt.decode("utf-8", "replace"),
                error="" if 200 <= response.status < 300 else f"HTTP {response.status}",
            )
        except urllib3.exceptions.HTTPError as exc:
            return AttemptOutcome(error=_describe(exc), duration_ms=_ms_since(started))
        finally:
            pool.close()


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
