"""One row per installed Shopify shop (its tokens, encrypted) and the nonces of installs in progress."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models

from crosssell_plugin.encryption import EncryptedTextField
from crosssell_plugin.models import Store

if TYPE_CHECKING:
    from .auth import TokenSet

#: the fields a token grant writes (saved together, in one UPDATE)
TOKEN_FIELDS = (
    "access_token",
    "access_token_expires_at",
    "refresh_token",
    "refresh_token_expires_at",
    "scopes",
    "token_refreshed_at",
    "updated_at",
)


class ShopifyShopQuerySet(models.QuerySet["ShopifyShop"]):
    def installed(self) -> ShopifyShopQuerySet:
        """Shops whose app is installed: not uninstalled, Store active, an access token held."""
        return self.filter(uninstalled_at__isnull=True, store__is_active=True).exclude(access_token="")


class ShopifyShop(models.Model):
    """A shop that installed the app: its Store (platform ``shopify``, external id = the domain) and
    its offline access token. Tokens are encrypted at rest and never shown, logged or in ``repr``;
    read a usable one with :func:`integrations.shopify.auth.access_token`, which refreshes it."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="shopify_shop")
    domain = models.CharField(
        max_length=255, unique=True, help_text="The shop's permanent *.myshopify.com domain, in lower case."
    )
    access_token = EncryptedTextField(blank=True, help_text="The offline access token (empty once uninstalled).")
    access_token_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the access token stops working; empty = a non-expiring token."
    )
    refresh_token = EncryptedTextField(blank=True, help_text="Trades for a new token pair (each is used once).")
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.TextField(blank=True, help_text="The access scopes granted, comma-separated.")
    api_version = models.CharField(max_length=16, help_text="The Admin API version the app used at install.")
    installed_at = models.DateTimeField(help_text="The latest install (a re-authorization keeps it).")
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    token_refreshed_at = models.DateTimeField(null=True, blank=True, help_text="When Shopify last issued a token.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShopifyShopQuerySet.as_manager()

    class Meta:
        verbose_name = "Shopify shop"
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def __repr__(self) -> str:
        state = "uninstalled" if self.uninstalled_at else "installed"
        return f"<ShopifyShop {self.domain} store={self.store_id} {state}>"

    @property
    def is_installed(self) -> bool:
        return self.uninstalled_at is None and bool(self.access_token)

    @property
    def has_expiring_token(self) -> bool:
        return self.access_token_expires_at is not None

    def granted_scopes(self) -> frozenset[str]:
        return frozenset(scope.strip() for scope in self.scopes.split(",") if scope.strip())

    def missing_scopes(self, required: Iterable[str]) -> list[str]:
        """The ``required`` scopes not granted (``write_x`` grants ``read_x``), in the order given."""
        granted = self.granted_scopes()
        implied = granted | {"read_" + scope[len("write_") :] for scope in granted if scope.startswith("write_")}
        return [scope for scope in required if scope not in implied]

    def apply_tokens(self, tokens: TokenSet, issued_at: datetime) -> None:
        """Take a grant's tokens (not saved: save with ``update_fields=TOKEN_FIELDS``). A grant
        without a refresh token keeps the one held."""
        self.access_token = tokens.access_token
        self.access_token_expires_at = tokens.expires_at
        if tokens.refresh_token:
            self.refresh_token = tokens.refresh_token
            self.refresh_token_expires_at = tokens.refresh_token_expires_at
        elif tokens.expires_at is None:  # a non-expiring token: nothing to refresh
            self.refresh_token, self.refresh_token_expires_at = "", None
        if tokens.scope:
            self.scopes = tokens.scope
        self.token_refreshed_at = issued_at


class ShopifyInstallState(models.Model):
    """The ``state`` nonce of an install in progress: single use, expiring, bound to one shop.

    Only its SHA-256 digest is kept, so the table holds nothing a callback could be forged with."""

    domain = models.CharField(max_length=255)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "Shopify install in progress"
        indexes = [
            models.Index(fields=["domain"], name="crosssell_shopify_state_shop"),
            models.Index(fields=["expires_at"], name="crosssell_shopify_state_exp"),
        ]

    def __str__(self) -> str:
        return f"install of {self.domain} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class ShopifyDataRequest(models.Model):
    """A ``customers/data_request``: what crosssell holds on one customer of one shop, compiled when
    the webhook is processed, for the merchant to download from the admin (as a .json file) and
    hand to the customer. Deleted with its shop (``shop/redact``) and by ``customers/redact`` of
    the same customer."""

    class Status(models.TextChoices):
        READY = "ready", "Ready to download"
        DOWNLOADED = "downloaded", "Downloaded"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="shopify_data_requests")
    shop = models.ForeignKey(ShopifyShop, on_delete=models.CASCADE, related_name="data_requests")
    request_id = models.CharField(max_length=64, help_text="Shopify's data_request.id.")
    customer_id = models.CharField(max_length=64, blank=True, help_text="The Shopify customer id, if sent.")
    email = models.CharField(max_length=320, blank=True, help_text="The customer's email as Shopify sent it.")
    requested_at = models.DateTimeField(help_text="When Shopify sent the request (X-Shopify-Triggered-At).")
    export = models.JSONField(default=dict, blank=True, help_text="Everything held on the customer in this store.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.READY)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Shopify customer data request"
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["store", "request_id"], name="crosssell_shopify_datareq_unique"),
        ]

    def __str__(self) -> str:
        return f"data request {self.request_id} of {self.shop_id and self.shop.domain}"

    def filename(self) -> str:
        return f"crosssell-data-request-{self.shop.domain}-{self.request_id}.json"
