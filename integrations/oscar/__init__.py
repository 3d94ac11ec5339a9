"""django-oscar integration: records Oscar orders and syncs Oscar's catalogue.

Add ``"integrations.oscar"`` to INSTALLED_APPS (before Oscar's apps). Requires the ``oscar``
extra: ``pip install "crosssell[oscar]"``.
"""
