"""An academy's playback signing keys: RS256 pairs whose private half we never keep."""

from __future__ import annotations

import secrets
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
    return row


def lookup(key_id: str) -> SigningKey | None:
    """The active key a token's `kid` names (read on every check: a revocation is at once)."""
    found = (
        PlaybackSigningKey.objects.filter(pk=key_id, revoked_at__isnull=True)
        .values_list("tenant_id", "public_key_pem")
        .first()
    )
    return SigningKey(tenant_id=found[0], public_key_pem=found[1]) if found else None
