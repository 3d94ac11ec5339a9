"""System checks of ``CROSSSELL["PLATFORMS"]["oscar"]``."""

from __future__ import annotations

import difflib
from typing import Any

from django.apps import apps
from django.core import checks

from crosssell_plugin.money import is_currency

from .adapter import OscarAdapter


def check_oscar_options(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    adapter = OscarAdapter()
    errors: list[checks.CheckMessage] = []
    for key in adapter.unknown_options():
        close = difflib.get_close_matches(key, adapter.option_defaults, n=1)
        errors.append(
            checks.Error(
                f'CROSSSELL["PLATFORMS"]["oscar"] has an unknown key {key!r}.',
                hint=(f'Did you mean "{close[0]}"? ' if close else "")
                + "Known keys: "
                + ", ".join(sorted(adapter.option_defaults))
                + ".",
                id="crosssell.E010",
            )
        )
    options = adapter.options()
    currency = options.get("CURRENCY")
    if currency is not None and not is_currency(currency):
        errors.append(
            checks.Error(
                f'CROSSSELL["PLATFORMS"]["oscar"]["CURRENCY"] is {currency!r}, not an ISO 4217 code.',
                hint='Write an upper-case code such as "EUR", or remove the key to use OSCAR_DEFAULT_CURRENCY.',
                id="crosssell.E011",
            )
        )
    kinds = options.get("KIND_BY_PRODUCT_CLASS")
    from crosssell_plugin.events import ItemKind

    valid = {k.value for k in ItemKind}
    if not isinstance(kinds, dict) or any(not isinstance(v, str) or v not in valid for v in kinds.values()):
        errors.append(
            checks.Error(
                f'CROSSSELL["PLATFORMS"]["oscar"]["KIND_BY_PRODUCT_CLASS"] must map product class slugs to item '
                f"kinds, got {kinds!r}.",
                hint='For example {"dvd": "film", "t-shirt": "merch"}; kinds: ' + ", ".join(sorted(valid)) + ".",
                id="crosssell.E012",
            )
        )
    names = [c.name for c in apps.get_app_configs()]
    ours = names.index("integrations.oscar")
    oscar_index = next((i for i, n in enumerate(names) if n.startswith("oscar")), None)
    if oscar_index is not None and ours > oscar_index:
        errors.append(
            checks.Warning(
                "\"integrations.oscar\" is listed after Oscar's apps in INSTALLED_APPS, so Oscar's own "
                "templates win over crosssell's thank-you page additions.",
                hint='Move "crosssell_plugin" and "integrations.oscar" above Oscar\'s apps.',
                id="crosssell.W010",
            )
        )
    return errors
