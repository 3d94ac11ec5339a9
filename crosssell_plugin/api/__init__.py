"""The REST API under ``/crosssell/api/v1/``: recommendations, the catalogue and click events, per store.

Clients authenticate with a store's API key (``Authorization: Bearer <key>``, see
:mod:`.authentication`); staff users of the site may also call it from a logged-in browser
session with an explicit ``?store=<store pk>``. The OpenAPI 3 schema is served at
``/crosssell/api/v1/schema/`` and kept in ``docs/openapi.yaml``.
"""
