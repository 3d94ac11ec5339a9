"""Per-store API keys of the REST API (``/crosssell/api/v1/``).

A key is ``cs_`` followed by 40 random URL-safe characters. Only its first 8 characters (the
prefix, to find the row) and the SHA-256 of the whole key are stored: the key itself is shown
once, when it is created, and cannot be recovered.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone

from .base import StoreScopedQuerySet
from .store import Store

PREFIX_LENGTH = 8


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyQuerySet(StoreScopedQuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A secret that lets a client call the API for one store."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'mobile app'.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False, help_text="SHA-256 (hex) of the full key.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def set_new_key(self) -> str:
        """Give the row a fresh random key and return it (the only time it is known)."""
        key = "cs_" + secrets.token_urlsafe(30)
        self.prefix = key[:PREFIX_LENGTH]
        self.key_hash = hash_key(key)
        return key

    @classmethod
    def create_key(cls, store: Store, name: str) -> tuple[ApiKey, str]:
        """A new saved key for ``store`` and the full key, to show once."""
        api_key = cls(store=store, name=name)
        key = api_key.set_new_key()
        api_key.save()
        return api_key, key
