"""crosssell: post-purchase cross-sell for Django stores.

The core Django app (label ``crosssell``). Adapters for each platform live in the
``integrations`` package and speak to the core only through :mod:`crosssell_plugin.events`
and :mod:`crosssell_plugin.ingest`.
"""

__version__ = "0.1.0"
