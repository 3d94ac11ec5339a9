from __future__ import annotations

from django import forms
from django.contrib import admin

from .models import StripeAccount


class StripeAccountForm(forms.ModelForm):
    """Secrets are typed in, never shown back: leave a field empty to keep the stored value."""

    secret_key = forms.CharField(widget=forms.PasswordInput, required=False)
    webhook_secret = forms.CharField(widget=forms.PasswordInput, required=False)

    class Meta:
        model = StripeAccount
        fields = ["store", "account_id", "secret_key", "webhook_secret"]

    def clean(self) -> dict:
        data = super().clean()
        for name in ("secret_key", "webhook_secret"):
            if not data.get(name):
                if self.instance.pk is None:
                    self.add_error(name, "Required.")
                else:
                    data[name] = getattr(self.instance, name)
        return data


@admin.register(StripeAccount)
class StripeAccountAdmin(admin.ModelAdmin):
    form = StripeAccountForm
    list_display = ["store", "account_id", "updated_at"]
    list_select_related = ["store"]
