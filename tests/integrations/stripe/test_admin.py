"""The Stripe account admin: secrets typed in, checked, never shown back, kept when left empty."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from crosssell_plugin.models import Store
from integrations.stripe.models import StripeAccount


def _admin(client: Client) -> None:
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))


def test_an_account_is_added_checked_and_its_secrets_kept_when_left_empty(client: Client, db: Any) -> None:
    _admin(client)
    store = Store.objects.create(platform="stripe", external_id="acct_9", name="Shop", currency="EUR")
    add = reverse("admin:crosssell_stripe_stripeaccount_add")
    bad = client.post(add, {"store": store.pk, "secret_key": "pk_test_public", "webhook_secret": "whsec_1"})
    assert bad.status_code == 200 and b"A Stripe secret key starts with sk_ or rk_." in bad.content
    assert not StripeAccount.objects.exists()
    ok = client.post(add, {"store": store.pk, "secret_key": "sk_test_abc", "webhook_secret": "whsec_abc"})
    assert ok.status_code == 302
    account = StripeAccount.objects.get(store=store)
    page = client.get(reverse("admin:crosssell_stripe_stripeaccount_change", args=[account.pk]))
    assert b"sk_test_abc" not in page.content and b"whsec_abc" not in page.content
    again = client.post(
        reverse("admin:crosssell_stripe_stripeaccount_change", args=[account.pk]),
        {"store": store.pk, "account_id": "acct_9", "secret_key": "", "webhook_secret": ""},
    )
    assert again.status_code == 302
    account.refresh_from_db()
    assert (account.secret_key, account.webhook_secret, account.account_id) == ("sk_test_abc", "whsec_abc", "acct_9")


def test_an_account_belongs_to_a_stripe_store(client: Client, db: Any) -> None:
    _admin(client)
    store = Store.objects.create(platform="custom", external_id="main", name="Shop", currency="EUR")
    response = client.post(
        reverse("admin:crosssell_stripe_stripeaccount_add"),
        {"store": store.pk, "secret_key": "sk_test_abc", "webhook_secret": "whsec_abc"},
    )
    assert b"Choose a store whose platform is Stripe." in response.content
