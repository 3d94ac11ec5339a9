"""Settings of a Celery worker process started by the Stripe end-to-end test: the test settings, with
Stripe's API answered by ``responses`` inside the worker (its HTTP goes nowhere else)."""

import responses

from tests.integrations.stripe.api import mock_stripe_api
from tests.settings import *  # noqa: F403

_STRIPE_API = responses.RequestsMock(assert_all_requests_are_fired=False)
mock_stripe_api(_STRIPE_API)
_STRIPE_API.start()
