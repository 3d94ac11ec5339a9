"""Shared pieces of the models: the store-scoped queryset and money fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from .store import Store

M = TypeVar("M", bound=models.Model)


class StoreScopedQuerySet(models.QuerySet[M]):
    """Every query goes through ``for_store``: one tenant never sees another's rows."""

    store_path = "store"

    def for_store(self, store: Store | int) -> StoreScopedQuerySet[M]:
        return self.filter(**{self.store_path: store})


def money_field(**kwargs: Any) -> models.DecimalField:
    """A Decimal amount. Four decimal places cover every ISO 4217 currency (0, 2 or 3 places)."""
    return models.DecimalField(max_digits=14, decimal_places=4, **kwargs)


def currency_field(**kwargs: Any) -> models.CharField:
    return models.CharField(max_length=3, help_text="ISO 4217 code, for example EUR.", **kwargs)
