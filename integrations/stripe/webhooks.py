"""The Stripe webhook view: the shared pipeline, for platform ``stripe`` (the adapter verifies)."""

from integrations.webhooks import WebhookView


class StripeWebhookView(WebhookView):
    platform_id = "stripe"
