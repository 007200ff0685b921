"""Who may follow a video's live stream: a progress_token (`?token=`) or an API key header.

A refusal names its HTTP status, the WebSocket close code (4000 + that status) and a reason
short enough for a close frame (at most 123 bytes).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from apps.api.keys.api_keys import KeyRejected, verify_key
from apps.api.live.tokens import TokenRejected, tenant_of_token
from src.application.domain import ErrorCode

MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason


class StreamRefused(Exception):
    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def close_code(self) -> int:
        return 4000 + self.status

    @property
    def reason(self) -> str:
        return self.message.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def api_key_from(headers: Mapping[str, str]) -> str:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>` (header names in lower case)."""
    authorization = headers.get("authorization", "").strip()
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return headers.get("x-api-key", "").strip()


def tenant_allowed(video_id: int, token: str, api_key: str) -> int:
    """The tenant the credential speaks for (the video's ownership is checked after); runs
    on a thread (an API key is looked up in the database)."""
    config = settings.CONFIG
    if token:
        try:
            return tenant_of_token(
                token, video_id, config.secret_key, config.progress_token_ttl_seconds
            )
        except TokenRejected as exc:
            status = 403 if exc.wrong_video else 401
            code = ErrorCode.FORBIDDEN if exc.wrong_video else ErrorCode.UNAUTHENTICATED
            raise StreamRefused(status, code, str(exc)) from None
    if api_key:
        try:
            return verify_key(api_key, config.api_key_pepper).tenant_id
        except KeyRejected as exc:
            raise StreamRefused(401, ErrorCode.UNAUTHENTICATED, str(exc)) from None
    raise StreamRefused(
        401,
        ErrorCode.UNAUTHENTICATED,
        "no credential: pass ?token=<progress_token from GET /api/v1/videos/{id}> or an API key",
    )


def not_found(video_id: int, detail: str = "") -> StreamRefused:
    return StreamRefused(404, ErrorCode.NOT_FOUND, detail or f"there is no video {video_id}")
