from __future__ import annotations

from django.db import models

from crosssell_plugin.encryption import EncryptedTextField
from crosssell_plugin.models import Store


class StripeAccount(models.Model):
    """A merchant's Stripe credentials for one Store (platform ``stripe``), encrypted at rest."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="stripe_account")
    account_id = models.CharField(
        max_length=255, blank=True, help_text="The Stripe account id (acct_...), for Connect platforms; else blank."
    )
    secret_key = EncryptedTextField(help_text="A restricted or secret API key (rk_... / sk_...), read access suffices.")
    webhook_secret = EncryptedTextField(help_text="The endpoint's signing secret (whsec_...).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Stripe account"

    def __str__(self) -> str:
        return f"Stripe account of {self.store}"
