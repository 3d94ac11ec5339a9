from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from .models import StripeAccount

#: what each secret must start with (Stripe's documented prefixes)
PREFIXES = {"secret_key": ("sk_", "rk_"), "webhook_secret": ("whsec_",)}


class StripeAccountForm(forms.ModelForm):
    """Secrets are typed in, never shown back: leave a field empty to keep the stored value."""

    secret_key = forms.CharField(widget=forms.PasswordInput, required=False, help_text="sk_... or rk_...")
    webhook_secret = forms.CharField(widget=forms.PasswordInput, required=False, help_text="whsec_...")

    class Meta:
        model = StripeAccount
        fields = ["store", "account_id", "secret_key", "webhook_secret"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, prefixes in PREFIXES.items():
            value = (data.get(name) or "").strip()
            if not value and self.instance.pk is not None:
                data[name] = getattr(self.instance, name)  # left empty: keep the stored secret
            elif not value:
                self.add_error(name, "Required.")
            elif not value.startswith(prefixes):
                self.add_error(name, f"A Stripe {name.replace('_', ' ')} starts with {' or '.join(prefixes)}.")
            else:
                data[name] = value
        store = data.get("store")
        if store is not None and store.platform != "stripe":
            self.add_error("store", "Choose a store whose platform is Stripe.")
        return data


@admin.register(StripeAccount)
class StripeAccountAdmin(admin.ModelAdmin):
    form = StripeAccountForm
    list_display = ["store", "account_id", "updated_at"]
    list_select_related = ["store"]
