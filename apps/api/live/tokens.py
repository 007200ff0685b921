"""progress_token: a short-lived signed credential for one video's live stream.

Browsers cannot send headers on a WebSocket or an EventSource, so `GET /api/v1/videos/{id}`
hands out a token bound to the tenant, the video and the API key that asked for it, accepted
as `?token=`. It is Django's TimestampSigner over `{"t": tenant_id, "v": video_id, "k":
key_id}` with the project's SECRET_KEY and its own salt, valid for
VIDEO_PROGRESS_TOKEN_TTL_SECONDS; it opens a stream and nothing else, and only while its key is
not revoked (apps/api/live/access.py checks the key when the stream opens and while it runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core import signing

SALT = "academy.video.progress-token.v1"
# Longer than any token we issue: anything past it is not ours (or tampered with).
MAX_TOKEN_LENGTH = 200


class TokenRejected(Exception):
    """The token is malformed, tampered with, expired, or for another video."""

    def __init__(self, message: str, *, wrong_video: bool = False) -> None:
        super().__init__(message)
        self.wrong_video = wrong_video


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def _signer(secret_key: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(key=secret_key, salt=SALT)


@dataclass(frozen=True)
class TokenClaims:
    tenant_id: int
    key_id: int  # the API key (row id) the token was issued to


def issue_token(
    tenant_id: int, video_id: int, key_id: int, secret_key: str, ttl_seconds: int
) -> IssuedToken:
    payload = {"t": int(tenant_id), "v": int(video_id), "k": int(key_id)}
    token = _signer(secret_key).sign_object(payload)
    return IssuedToken(token, datetime.now(UTC) + timedelta(seconds=ttl_seconds))


def claims_of_token(token: str, video_id: int, secret_key: str, ttl_seconds: int) -> TokenClaims:
    """Whom a token speaks for, if it is valid for `video_id`; TokenRejected otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected("the progress token is malformed")
    try:
        payload = _signer(secret_key).unsign_object(token, max_age=ttl_seconds)
    except signing.SignatureExpired:
        raise TokenRejected(
            "the progress token has expired: fetch GET /api/v1/videos/{id} for a new one"
        ) from None
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        raise TokenRejected("the progress token is not valid") from None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(name), int) for name in ("t", "k")
    ):
        raise TokenRejected("the progress token is not valid")
    if payload.get("v") != video_id:
        raise TokenRejected(
            f"the progress token is for another video, not {video_id}", wrong_video=True
        )
    return TokenClaims(tenant_id=payload["t"], key_id=payload["k"])
