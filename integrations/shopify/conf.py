"""The Shopify app's options: ``CROSSSELL["PLATFORMS"]["shopify"]``, read live, with documented defaults.

::

    CROSSSELL = {
        "PLATFORMS": {
            "shopify": {
                "API_KEY": os.environ["SHOPIFY_API_KEY"],  # the app's client id (Partner Dashboard)
                "API_SECRET": os.environ["SHOPIFY_API_SECRET"],  # its client secret
                "APP_URL": "https://crosssell.example.com",  # this site, as Shopify reaches it
            }
        }
    }

Every key is optional; :data:`OPTIONS` documents each one. ``manage.py check`` reports an unknown
key (``crosssell.E020``), a wrong value (``crosssell.E021``) and missing credentials
(``crosssell.W020``); the code that needs the credentials raises a
:class:`~crosssell_plugin.exceptions.ConfigurationError` naming the key to set. The secrets are
never part of a message, a log line or a ``repr``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crosssell_plugin.conf import crosssell_settings, rate_problem
from crosssell_plugin.exceptions import ConfigurationError
from crosssell_plugin.money import is_currency

PLATFORM_ID = "shopify"
SETTING = f'CROSSSELL["PLATFORMS"]["{PLATFORM_ID}"]'

#: what every crosssell feature needs: products and orders to recommend from, customers to follow up,
#: discounts to mint offer codes (``write_discounts`` includes reading them)
DEFAULT_SCOPES = "read_products,read_orders,read_customers,write_discounts"

#: key -> (default, meaning)
OPTIONS: dict[str, tuple[Any, str]] = {
    "API_KEY": ("", "The app's client id (API key) from the Partner Dashboard; session tokens name it in `aud`."),
    "API_SECRET": (
        "",
        "The app's client secret: signs install requests and session tokens, and goes with every "
        "token request. Never logged.",
    ),
    "OLD_API_SECRET": (
        "",
        "While rotating the client secret: the previous one, still accepted on signed requests "
        "and session tokens (token requests always use API_SECRET). Empty = none.",
    ),
    "SCOPES": (DEFAULT_SCOPES, "The access scopes asked for at install, comma-separated (or a list)."),
    "API_VERSION": (
        "2026-07",
        "The Admin API version the app is written against (YYYY-MM of a quarterly release, "
        "or unstable); recorded on each shop at install.",
    ),
    "APP_URL": (
        "",
        "This site's public base URL as Shopify reaches it (https://...): the install callback's "
        "redirect_uri is APP_URL + its path and must be allow-listed in the Partner Dashboard. "
        "Empty = taken from the request (only right without a proxy that changes the host or scheme).",
    ),
    "AFTER_INSTALL_URL": (
        "",
        "Where the merchant lands after an install ('{shop}' is replaced by the shop's "
        "domain). Empty = the app inside the shop's admin, https://{shop}/admin/apps/<API_KEY>.",
    ),
    "DEFAULT_CURRENCY": ("USD", "The new Store's currency until the shop's own is read from Shopify."),
    "TIMESTAMP_TOLERANCE_SECONDS": (90, "How far a signed request's timestamp may be from now, either way."),
    "STATE_MAX_AGE_SECONDS": (600, "How long an install may take between the redirect to Shopify and the callback."),
    "REFRESH_MARGIN_SECONDS": (300, "An expiring access token is refreshed when it has less than this left."),
    "SESSION_TOKEN_LEEWAY_SECONDS": (10, "Clock skew allowed on a session token's exp and nbf."),
    "TIMEOUT_SECONDS": (15, "How long a token request to Shopify may take before it fails."),
    "SYNC_ON_INSTALL": (
        True,
        "Enqueue crosssell.shopify.sync_shop when a shop installs the app, so its first full import of "
        "products and orders starts by itself (not while a sync of that shop is running). False = sync by hand.",
    ),
    "STOREFRONT_RATE": (
        "6000/min",
        "Requests per shop to the UI extension endpoint and, separately, to the App Proxy, in a window "
        '("6000/min", "100/s", "200000/hour"); past it the answer is 429 with Retry-After.',
    ),
}
OPTION_DEFAULTS: dict[str, Any] = {key: default for key, (default, _) in OPTIONS.items()}

#: an access scope as Shopify spells it (read_products, write_discounts, unauthenticated_read_checkouts...)
_SCOPE = re.compile(r"^(unauthenticated_)?(read|write|customer_read|customer_write)_[a-z][a-z_]*$")
#: a quarterly Admin API release, or the unstable one
_API_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
_INT_RANGES = {
    "TIMESTAMP_TOLERANCE_SECONDS": (1, 3600),
    "STATE_MAX_AGE_SECONDS": (60, 86400),
    "REFRESH_MARGIN_SECONDS": (0, 3000),  # an expiring token lives 3600 s
    "SESSION_TOKEN_LEEWAY_SECONDS": (0, 60),
    "TIMEOUT_SECONDS": (1, 120),
}


def options() -> dict[str, Any]:
    """The options in effect: the defaults updated with what the project wrote."""
    return crosssell_settings.platform(PLATFORM_ID, OPTION_DEFAULTS)


@dataclass(frozen=True)
class Credentials:
    """The app's client id and secret(s); the secrets stay out of ``repr``."""

    api_key: str
    secret: str = field(repr=False)
    old_secret: str = field(default="", repr=False)

    def verifying_secrets(self) -> tuple[str, ...]:
        """The secrets a signature may be made with: the current one, then the previous one."""
        return (self.secret, self.old_secret) if self.old_secret else (self.secret,)


def credentials() -> Credentials:
    """The app's credentials; a ConfigurationError naming each missing key."""
    opts = options()
    missing = [key for key in ("API_KEY", "API_SECRET") if not _text(opts.get(key))]
    if missing:
        keys = " and ".join(f"{SETTING}[{key!r}]" for key in missing)
        raise ConfigurationError(
            f"The Shopify app has no {' and no '.join(missing)}: set {keys} "
            "to the app's client id and client secret (Partner Dashboard > Apps > your app > Client credentials)."
        )
    return Credentials(
        api_key=opts["API_KEY"].strip(), secret=opts["API_SECRET"].strip(), old_secret=_text(opts.get("OLD_API_SECRET"))
    )


def scopes(value: Any = None) -> list[str]:
    """The configured scopes as a list (``value`` = another SCOPES value to read)."""
    raw = options()["SCOPES"] if value is None else value
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# --- checks ---------------------------------------------------------------------------------------


def _url(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        return f"must be an http(s) URL without a query, got {value!r}"
    return None


def _scopes(value: Any) -> str | None:
    if not isinstance(value, str | list | tuple):
        return f"must be a comma-separated string or a list of scopes, got {type(value).__name__}"
    found = scopes(value)
    if not found:
        return "names no scope"
    bad = [scope for scope in found if not _SCOPE.match(scope)]
    return f"has scopes Shopify does not spell that way: {bad}" if bad else None


def _api_version(value: Any) -> str | None:
    if not isinstance(value, str) or not _API_VERSION.match(value):
        return f"must be a quarterly release such as 2026-07 (YYYY-01/04/07/10) or unstable, got {value!r}"
    return None


def _currency(value: Any) -> str | None:
    return None if is_currency(value) else f"must be an upper-case ISO 4217 code such as USD, got {value!r}"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, got {type(value).__name__}"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be True or False, got {value!r}"


def _int_between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer between {low} and {high}, got {value!r}"
        return None

    return check


_VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "API_KEY": _string,
    "API_SECRET": _string,
    "OLD_API_SECRET": _string,
    "SCOPES": _scopes,
    "API_VERSION": _api_version,
    "APP_URL": _url,
    "AFTER_INSTALL_URL": _url,
    "DEFAULT_CURRENCY": _currency,
    "SYNC_ON_INSTALL": _bool,
    "STOREFRONT_RATE": rate_problem,
    **{key: _int_between(low, high) for key, (low, high) in _INT_RANGES.items()},
}


def value_problems(opts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, problem) for each option with a wrong value; the value of a secret is never quoted."""
    problems = []
    for key, validate in _VALIDATORS.items():
        problem = validate(opts.get(key, OPTION_DEFAULTS[key]))
        if problem and key.endswith("SECRET"):
            problem = "must be a string"
        if problem:
            problems.append((key, problem))
    return problems
