"""The demo's HTTP client for the API (the standard library only, as any script could).

Every POST carries an Idempotency-Key, so a retry after a lost answer can never create a
second video; a 429 is waited out for its Retry-After; uploads stream from the file.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 30
CHUNK_BYTES = 1024 * 1024
MAX_RATE_LIMIT_WAITS = 5


class ApiError(Exception):
    """The API answered with an error (its problem+json detail is in the message)."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        detail = body.get("detail") if isinstance(body, dict) else str(body)[:300]
        code = body.get("code", "") if isinstance(body, dict) else ""
        super().__init__(f"{method} {path} answered {status} {code}: {detail}")
        self.status = status
        self.body = body


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False, default=b"")


class ApiClient:
    def __init__(self, base_url: str, key: str) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.key = key
        self.requests = 0

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        upload: Path | None = None,
    ) -> Response:
        parts = urlsplit(url if "://" in url else f"{self.base_url}{url}")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn = http.client.HTTPConnection(
            parts.hostname or self.host, parts.port or self.port, timeout=TIMEOUT_SECONDS
        )
        try:
            all_headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
            if upload is not None:
                all_headers["Content-Length"] = str(upload.stat().st_size)
                conn.putrequest(method, target)
                for name, value in all_headers.items():
                    conn.putheader(name, value)
                conn.endheaders()
                with upload.open("rb") as source:
                    while chunk := source.read(CHUNK_BYTES):
                        conn.send(chunk)
            else:
                conn.request(method, target, body=body, headers=all_headers)
            answer = conn.getresponse()
            raw = answer.read()
            self.requests += 1
            kind = answer.getheader("Content-Type", "")
            parsed: Any = json.loads(raw) if "json" in kind and raw else raw
            return Response(
                answer.status, {k.lower(): v for k, v in answer.getheaders()}, parsed, raw
            )
        finally:
            conn.close()

    def call(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> Response:
        """One API call; waits out a 429 (Retry-After), raises ApiError for other errors."""
        headers = dict(kwargs.pop("headers", {}) or {})
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        for _wait in range(MAX_RATE_LIMIT_WAITS):
            response = self._send(method, path, body, headers, **kwargs)
            if response.status != 429:
                break
            time.sleep(float(response.headers.get("retry-after", "1")))
        if response.status >= 400:
            raise ApiError(method, path, response.status, response.body)
        return response

    # -- the calls the demo makes ----------------------------------------------------------
    def health(self) -> bool:
        try:
            return self._send("GET", "/api/v1/health").status == 200
        except OSError:
            return False

    def upload(self, path: Path, title: str) -> dict[str, Any]:
        """Create the video (its id comes back at once), send the bytes, confirm: 202."""
        created = self.call(
            "POST",
            "/api/v1/videos",
            {"title": title, "size_bytes": path.stat().st_size, "filename": path.name},
        ).body
        plan = created["upload"]
        self.call(plan["method"], plan["url"], headers=plan["headers"], upload=path)
        return self.call("POST", plan["complete_url"], {}).body

    def video(self, video_id: int) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/videos/{video_id}").body

    def fetch(self, url: str) -> Response:
        """A published file (its URL's token opens it; the key is ignored by /media/)."""
        return self.call("GET", url)
