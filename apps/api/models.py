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
