"""An academy's playback signing keys: RS256 pairs whose private half we never keep."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from django.utils import timezone

from apps.api.models import PlaybackSigningKey
from src.application.video_errors import InvalidVideoState, VideoNotFound
from src.infrastructure.playback.tokens import SigningKey, new_rsa_key_pair

# Enough for rotating keys without gaps; a tenant with more has lost track of them.
MAX_KEYS_PER_TENANT = 20
KEY_ID_PREFIX = "sk_"


class SigningKeyNotFound(VideoNotFound):
    """No such active key for this tenant (another tenant's key is not found either)."""


@dataclass(frozen=True)
class CreatedKey:
    row: PlaybackSigningKey
    private_key_pem: str


def create_key(tenant_id: int) -> CreatedKey:
    if active_keys(tenant_id).count() >= MAX_KEYS_PER_TENANT:
        raise InvalidVideoState(
            f"at most {MAX_KEYS_PER_TENANT} signing keys may be active: revoke one first"
        )
    private_pem, public_pem = new_rsa_key_pair()
    row = PlaybackSigningKey.objects.create(
        id=f"{KEY_ID_PREFIX}{secrets.token_urlsafe(18)}",
        tenant_id=tenant_id,
        public_key_pem=public_pem,
    )
    return CreatedKey(row, private_pem)


def active_keys(tenant_id: int):
    return PlaybackSigningKey.objects.filter(tenant_id=tenant_id, revoked_at__isnull=True)


def revoke_key(tenant_id: int, key_id: str) -> PlaybackSigningKey:
    """Revoke the tenant's key; tokens it signed are refused from now on."""
    row = active_keys(tenant_id).filter(pk=key_id).first()
    if row is None:
        raise SigningKeyNotFound(f"there is no active signing key {key_id[:64]}")
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    _forget(key_id)
    return row


# Each segment request asks whether its token's key is still active. The answer is kept this
# long per process, sparing a query per segment: a revocation takes effect at once in the
# process that made it and within this time in every other.
KEY_STATUS_SECONDS = 2.0
KEY_STATUS_ENTRIES = 10_000
_status: dict[str, tuple[float, SigningKey | None]] = {}
_status_lock = threading.Lock()


def lookup(key_id: str) -> SigningKey | None:
    """The active key a token's `kid` names, or None (unknown, revoked)."""
    now = time.monotonic()
    with _status_lock:
        known = _status.get(key_id)
    if known is not None and known[0] > now:
        return known[1]
    found = (
        PlaybackSigningKey.objects.filter(pk=key_id, revoked_at__isnull=True)
        .values_list("tenant_id", "public_key_pem")
        .first()
    )
    key = SigningKey(tenant_id=found[0], public_key_pem=found[1]) if found else None
    with _status_lock:
        if len(_status) >= KEY_STATUS_ENTRIES:
            _status.clear()
        _status[key_id] = (now + KEY_STATUS_SECONDS, key)
    return key


def _forget(key_id: str) -> None:
    with _status_lock:
        _status.pop(key_id, None)
