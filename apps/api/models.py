"""API keys: per tenant, stored only as an HMAC of the key (server pepper) and a lookup prefix."""

from __future__ import annotations

from django.db import models

from apps.support.video.models import Tenant


class ApiKey(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True, default="")
    # The key's public part: finds the row in one indexed lookup, never proves anything.
    prefix = models.CharField(max_length=16, unique=True)
    # HMAC-SHA256(API_KEY_PEPPER, key), hex: a leaked table gives no usable key.
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.prefix}… ({self.tenant.slug}, {state})"


class IdempotencyRecord(models.Model):
    """One Idempotency-Key as used by one tenant on one route (apps/api/keys/idempotency.py).

    Created when the first request with the key starts (the unique constraint is the claim:
    a concurrent second INSERT fails), completed with the response to replay. Kept 24 hours.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # "POST /api/v1/videos/7/cancel": the method and the path the key was used on.
    route = models.CharField(max_length=300)
    # SHA-256 of what identifies the request (content type and body): a reuse with another
    # body is refused.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # Null while the first request is in flight.
    completed_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True, default="")
    response_location = models.CharField(max_length=500, blank=True, default="")
    response_body = models.BinaryField(default=b"")

    class Meta:
        verbose_name = "idempotency record"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key", "route"], name="api_idempotency_one_claim"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="api_idempotency_created")]

    def __str__(self) -> str:
        return f"{self.route} key={self.key[:20]} ({self.response_status or 'in flight'})"


class PlaybackSigningKey(models.Model):
    """An academy's RS256 key for signing playback tokens itself (apps/api/playback/).

    Only the public key is kept: the private key is shown once, when the key is created.
    A revoked key's tokens stop working at once (each token check reads the row).
    """

    # The token header's `kid`: public, random, unique.
    id = models.CharField(primary_key=True, max_length=32, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="signing_keys")
    public_key_pem = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "playback signing key"
        indexes = [models.Index(fields=["tenant", "-created_at"], name="api_signing_key_tenant")]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"{self.id} ({self.tenant.slug}, {state})"
