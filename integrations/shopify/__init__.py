"""Shopify integration: a multi-tenant app; each shop that installs it gets its own Store.

Add ``"integrations.shopify"`` to INSTALLED_APPS, run migrate, include
``path("shopify/", include("integrations.shopify.urls"))`` and set
``CROSSSELL["PLATFORMS"]["shopify"]`` (``API_KEY``, ``API_SECRET``, ``APP_URL``; see
:mod:`integrations.shopify.conf`). The app's URL is ``/shopify/install/`` and its allowed
redirection URL ``/shopify/callback/``. Requires the ``shopify`` extra:
``pip install "crosssell[shopify]"``. Modules: ``auth`` (signed requests, token grants, refresh,
revoke, session tokens), ``installs`` (the state nonce, recording an install), ``views``/``urls``
(the install flow), ``models``, ``adapter``, ``admin``, ``signals``, ``conf``, ``checks``.
"""
