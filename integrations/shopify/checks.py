"""System checks of ``CROSSSELL["PLATFORMS"]["shopify"]`` (ids ``crosssell.E020``, ``E021``, ``W020``)."""

from __future__ import annotations

import difflib
from typing import Any

from django.core import checks

from crosssell_plugin.conf import crosssell_settings

from . import conf


def check_shopify_options(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    given = crosssell_settings.platform_overrides(conf.PLATFORM_ID)
    for key in sorted(set(given) - set(conf.OPTION_DEFAULTS)):
        close = difflib.get_close_matches(str(key), conf.OPTION_DEFAULTS, n=1)
        messages.append(
            checks.Error(
                f"{conf.SETTING} has an unknown key {key!r}.",
                hint=(f'Did you mean "{close[0]}"? ' if close else "")
                + "Known keys: "
                + ", ".join(sorted(conf.OPTION_DEFAULTS))
                + ".",
                id="crosssell.E020",
            )
        )
    opts = conf.options()
    for key, problem in conf.value_problems(opts):
        messages.append(
            checks.Error(
                f"{conf.SETTING}[{key!r}] {problem}.",
                hint=f"{key}: {conf.OPTIONS[key][1]} Default: {conf.OPTION_DEFAULTS[key]!r}.",
                id="crosssell.E021",
            )
        )
    missing = [key for key in ("API_KEY", "API_SECRET") if not (isinstance(opts.get(key), str) and opts[key].strip())]
    if missing:
        messages.append(
            checks.Warning(
                f"The Shopify app has no {' and no '.join(missing)}: installs, callbacks and session tokens "
                "are refused until it has.",
                hint=f'Set {conf.SETTING}["API_KEY"] and ["API_SECRET"] to the app\'s client id and client '
                "secret (Partner Dashboard > Apps > your app), e.g. from environment variables.",
                id="crosssell.W020",
            )
        )
    return messages
