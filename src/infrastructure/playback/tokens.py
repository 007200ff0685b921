"""Playback tokens are JWTs (PyJWT): `sub` = the playback id, `aud` = `v` (playlists, segments,
captions) or `t` (thumbnail), `exp`, and an optional `viewer`.

Two kinds, told apart by the header: the API's own tokens carry no `kid` and are HS256 with a
key derived from DJANGO_SECRET_KEY; an academy's tokens carry `kid` = one of its signing keys
and are RS256, checked with the public key we keep. Each kind accepts one algorithm only, so
a token can never make us verify an RSA signature as an HMAC (algorithm confusion).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE_VIDEO = "v"
AUDIENCE_THUMBNAIL = "t"
AUDIENCES = (AUDIENCE_VIDEO, AUDIENCE_THUMBNAIL)
# Clocks of the academy's servers and ours may disagree a little.
LEEWAY_SECONDS = 10
# Tokens are query parameters: refuse anything longer before parsing it.
MAX_TOKEN_CHARS = 4096
_DERIVATION = b"academy.playback-token.v1"
RSA_KEY_BITS = 2048


class TokenRefused(Exception):
    """The token does not open this playback id; the message says why (for the log only)."""


@dataclass(frozen=True)
class Minted:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class SigningKey:
    """An academy's public key, as the verifier needs it."""

    tenant_id: int
    public_key_pem: str


@dataclass(frozen=True)
class Grant:
    """What a verified token allows."""

    playback_id: str
    audience: str
    expires_at: int  # epoch seconds
    viewer: str | None
    key_id: str | None  # the academy's signing key; None for the API's own tokens
    key_tenant_id: int | None


def server_key(secret_key: str) -> bytes:
    """The HS256 key of the API's own tokens: derived, so it is no other use's key."""
    return hmac.new(secret_key.encode(), _DERIVATION, hashlib.sha256).digest()


def mint(
    playback_id: str,
    audience: str,
    ttl_seconds: int,
    key: bytes,
    *,
    viewer: str | None = None,
    now: float | None = None,
) -> Minted:
    """A token of the API's own (HS256, no `kid`)."""
    expires = int(now if now is not None else time.time()) + ttl_seconds
    claims: dict = {"sub": playback_id, "aud": audience, "exp": expires}
    if viewer:
        claims["viewer"] = viewer
    token = jwt.encode(claims, key, algorithm="HS256")
    return Minted(token, datetime.fromtimestamp(expires, UTC))


def new_rsa_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh RS256 signing key."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@lru_cache(maxsize=1024)
def _public_key(pem: str):
    """Parsed once per process: loading a PEM costs more than the signature check."""
    return serialization.load_pem_public_key(pem.encode())


class _VerifiedTokens:
    """A bounded LRU of grants whose signature was checked, keyed by the token and what it
    was checked for (thread-safe: ASGI runs sync views in threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._grants: OrderedDict[tuple, Grant] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Grant | None:
        with self._lock:
            grant = self._grants.get(key)
            if grant is not None:
                self._grants.move_to_end(key)
            return grant

    def put(self, key: tuple, grant: Grant) -> None:
        with self._lock:
            self._grants[key] = grant
            self._grants.move_to_end(key)
            while len(self._grants) > self.size:
                self._grants.popitem(last=False)


# A player sends the same token with every segment (hundreds a view): its signature is
# checked once per process, and each later request re-checks only what can change, the
# expiry and (an academy's token) that its key is still active. About 1 KB an entry.
VERIFIED_TOKENS = 10_000
_verified = _VerifiedTokens(VERIFIED_TOKENS)


def verify(
    token: str,
    playback_id: str,
    audience: str,
    key: bytes,
    signing_key: Callable[[str], SigningKey | None],
    *,
    now: float | None = None,
) -> Grant:
    """The grant `token` gives for `playback_id` and `audience`; TokenRefused otherwise.

    `signing_key(kid)` is the academy's active key with that id, or None (unknown, revoked):
    it is asked on every call, so a revocation takes effect at the next request.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused("no token, or a token too long to be one")
    cache_key = (token, playback_id, audience, key)
    grant = _verified.get(cache_key)
    if grant is None:
        grant = _check_signature(token, playback_id, audience, key, signing_key)
        _verified.put(cache_key, grant)
        return grant
    if grant.expires_at + LEEWAY_SECONDS <= (time.time() if now is None else now):
        raise TokenRefused("ExpiredSignatureError")
    if grant.key_id is not None and signing_key(grant.key_id) is None:
        raise TokenRefused("unknown or revoked signing key")
    return grant


def _check_signature(
    token: str,
    playback_id: str,
    audience: str,
    key: bytes,
    signing_key: Callable[[str], SigningKey | None],
) -> Grant:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"malformed: {type(exc).__name__}") from None
    kid = header.get("kid")
    found: SigningKey | None = None
    if kid is None:
        verify_with, algorithm = key, "HS256"
    else:
        if not isinstance(kid, str) or len(kid) > 64:
            raise TokenRefused("malformed key id")
        found = signing_key(kid)
        if found is None:
            raise TokenRefused("unknown or revoked signing key")
        verify_with, algorithm = _public_key(found.public_key_pem), "RS256"
    try:
        claims = jwt.decode(
            token,
            verify_with,
            algorithms=[algorithm],
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"{type(exc).__name__}") from None
    if claims.get("sub") != playback_id:
        raise TokenRefused("the token is for another playback id")
    viewer = claims.get("viewer")
    return Grant(
        playback_id=playback_id,
        audience=audience,
        expires_at=int(claims["exp"]),
        viewer=str(viewer)[:200] if viewer is not None else None,
        key_id=kid,
        key_tenant_id=found.tenant_id if found else None,
    )
