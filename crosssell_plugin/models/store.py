from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models

from ..conf import STORE_RULE_KEYS, described, rules_problem
from ..events import Platform
from ..money import is_currency


def validate_currency(value: str) -> None:
    if not is_currency(value):
        raise ValidationError(f"{value!r} is not an ISO 4217 currency code such as EUR.")


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone such as Europe/Paris.") from None


def validate_store_rules(value: object) -> None:
    problem = rules_problem(value, STORE_RULE_KEYS)
    if problem is not None:
        raise ValidationError(described("The rules", problem) + ".")


class Store(models.Model):
    """A tenant: one shop on one platform. Every other row hangs off a Store."""

    platform = models.CharField(
        max_length=20,
        choices=[(p.value, p.name.replace("_", " ").title()) for p in Platform],
    )
    external_id = models.CharField(
        max_length=255,
        help_text="The store's id on its platform (a myshopify domain, a school id...).",
    )
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, validators=[validate_currency], help_text="ISO 4217 code.")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    is_active = models.BooleanField(default=True)
    rules = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_store_rules],
        help_text="This store's own business rules, over CROSSSELL[\"RULES\"] key by key; {} = the site's rules.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "external_id"], name="crosssell_store_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    def save(self, *args: object, **kwargs: object) -> None:
        validate_store_rules(self.rules)  # never store rules the recommendations would have to ignore
        super().save(*args, **kwargs)
