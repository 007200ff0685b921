"""Issuing and checking API keys: `avk_<prefix>_<secret>`, kept as HMAC-SHA256 with a pepper.

The prefix finds the row; the HMAC of the whole key, compared in constant time, proves it.
Keys are shown once, when created, and never logged: log lines name the key's row id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.api.models import ApiKey
from apps.support.video.models import Tenant

KEY_SCHEME = "avk"
PREFIX_CHARS = 12  # hex: 48 bits, enough that two keys never share one
SECRET_BYTES = 32  # 256 bits of entropy in the secret part


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the tenant, and which key (by row id) said so."""

    tenant_id: int
    key_id: int
    # The key's public prefix: names its rate-limit bucket (unique, unlike row ids across
    # databases sharing one Redis).
    key_prefix: str = ""


class KeyRejected(Exception):
    """A key that is missing, malformed, unknown or revoked (the message says which)."""


def key_hash(key: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def issue_key(tenant: Tenant, name: str, pepper: str) -> tuple[ApiKey, str]:
    """A new key for `tenant`: the row and the key itself, which is not stored anywhere."""
    with transaction.atomic():
        while True:
            prefix = secrets.token_hex(PREFIX_CHARS // 2)
            if not ApiKey.objects.filter(prefix=prefix).exists():
                break
        key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
        row = ApiKey.objects.create(
            tenant=tenant, name=name, prefix=prefix, key_hash=key_hash(key, pepper)
        )
    return row, key


def split_prefix(key: str) -> str:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != PREFIX_CHARS:
        raise KeyRejected("the API key is malformed")
    return parts[1]


def verify_key(key: str, pepper: str) -> Principal:
    """The principal a presented key stands for; KeyRejected otherwise."""
    prefix = split_prefix(key.strip())
    row = ApiKey.objects.filter(prefix=prefix).values("id", "tenant_id", "key_hash", "revoked_at")
    found = row.first()
    # Compare even when no row matched, so timing does not tell unknown prefixes apart.
    expected = found["key_hash"] if found else "0" * 64
    if not hmac.compare_digest(expected, key_hash(key.strip(), pepper)) or not found:
        raise KeyRejected("the API key is not valid")
    if found["revoked_at"] is not None:
        raise KeyRejected("the API key has been revoked")
    return Principal(tenant_id=found["tenant_id"], key_id=found["id"], key_prefix=prefix)


def revoke(prefix: str) -> ApiKey | None:
    """Revoke the key with this prefix (or whole key); None when there is none."""
    if prefix.startswith(f"{KEY_SCHEME}_"):
        prefix = split_prefix(prefix)
    row = ApiKey.objects.filter(prefix=prefix).select_related("tenant").first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
    return row
