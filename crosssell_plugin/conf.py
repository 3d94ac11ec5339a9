"""The ``CROSSSELL`` settings dict: documented defaults, live lookup, validation.

In your project's settings::

    CROSSSELL = {
        "ATTRIBUTION_WINDOW_DAYS": 7,
        "PLATFORMS": {"oscar": {"STORE_NAME": "My shop"}},
    }

Every key is optional. Values are read on each access (so ``override_settings`` works)
and validated at start-up by Django's system-check framework (``manage.py check``): a wrong
value is reported as ``crosssell.E00x`` with a hint that says what to write instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings

from .events import ItemKind


@dataclass(frozen=True)
class Setting:
    """One documented key of the ``CROSSSELL`` dict."""

    default: Any
    doc: str
    #: returns None when the value is valid, else a description of what is wrong.
    validate: Callable[[Any], str | None]
    #: what to write instead, shown as the system check's hint.
    hint: str


def _int_between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {type(value).__name__} {value!r}"
        if not low <= value <= high:
            return f"must be between {low} and {high}, got {value}"
        return None

    return check


def _fraction(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number between 0 and 1, got {type(value).__name__} {value!r}"
    if not 0 < value <= 1:
        return f"must be greater than 0 and at most 1, got {value}"
    return None


def _number_between(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {type(value).__name__} {value!r}"
        if not low <= value <= high:
            return f"must be between {low} and {high}, got {value}"
        return None

    return check


_RATE = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")


def rate_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not _RATE.fullmatch(value):
        return f'must be a rate such as "600/min" (requests per s, min, hour or day), got {value!r}'
    return None


_STORE_REF = re.compile(r"[a-z][a-z0-9_]*:\S+")


def _store_ref(value: Any) -> str | None:
    if value == "":
        return None
    if not isinstance(value, str) or not _STORE_REF.fullmatch(value):
        return f'must be "platform:external_id" such as "oscar:default" or "custom:main", got {value!r}'
    return None


_DOTTED_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _dotted_path(value: Any) -> str | None:
    if not isinstance(value, str) or not _DOTTED_PATH.fullmatch(value):
        return f'must be the dotted path of a function such as "myshop.accounts.email_verified", got {value!r}'
    return None


def _site_url(value: Any) -> str | None:
    if value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return f'must be an http(s) URL such as "https://shop.example.com" (or ""), got {value!r}'
    return None


def _bool(value: Any) -> str | None:
    if not isinstance(value, bool):
        return f"must be True or False, got {type(value).__name__} {value!r}"
    return None


def _sms(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"must be a dict of SMS options, got {type(value).__name__}"
    unknown = sorted(set(value) - set(SMS_DEFAULTS))
    if unknown:
        return f"has unknown keys {unknown}; known keys: {sorted(SMS_DEFAULTS)}"
    backend = value.get("BACKEND", SMS_DEFAULTS["BACKEND"])
    if not isinstance(backend, str) or "." not in backend:
        return f"BACKEND must be a dotted path to a backend class, got {backend!r}"
    return None


#: ``CROSSSELL["SMS"]`` keys and their defaults (crosssell_plugin.channels.sms documents them).
SMS_DEFAULTS: dict[str, Any] = {
    "BACKEND": "crosssell_plugin.channels.sms.ConsoleSmsBackend",
    "FROM": "",
    "ACCOUNT_SID": "",
    "AUTH_TOKEN": "",
    "BASE_URL": "https://api.twilio.com",
    "TIMEOUT_SECONDS": 10,
}


_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _quiet_hours(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"START", "END"}:
        return f"must be None or a dict with exactly the keys START and END, got {value!r}"
    for key in ("START", "END"):
        if not isinstance(value[key], str) or not _CLOCK.fullmatch(value[key]):
            return f'{key} must be a 24-hour "HH:MM" time, got {value[key]!r}'
    if value["START"] == value["END"]:
        return "START and END must differ (use None for no quiet hours)"
    return None


#: ``CROSSSELL["RULES"]`` keys and their defaults: the business rules of every store, right for a
#: film store (at most one merchandise item before the films), a course school (the next module
#: first) and a shop of one kind (nothing is held back when everything is merchandise).
RULES_DEFAULTS: dict[str, Any] = {
    "MAX_PER_KIND": {"merch": 1},
    "EXCLUDED_KINDS": [],
    "PRICE_BAND": [0.0, 3.0],
    "PRICE_PENALTY": 0.5,
    "SEQUENCE_FIRST": True,
}
#: the keys a store's own rules (``Store.rules``, set in the admin) may have: the same, plus its
#: margin weight (else ``CROSSSELL["MARGIN_WEIGHT"]``) and the Item pks it never recommends
STORE_RULE_KEYS = (*RULES_DEFAULTS, "MARGIN_WEIGHT", "EXCLUDED_ITEMS")
_KIND_NAMES = ", ".join(k.value for k in ItemKind)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value == value  # not NaN


def _kinds_problem(key: str, kinds: Any) -> str | None:
    unknown = sorted({str(kind) for kind in kinds if kind not in set(ItemKind)})
    if unknown:
        return f'["{key}"] has unknown kinds {unknown} (kinds: {_KIND_NAMES})'
    return None


def described(name: str, problem: str) -> str:
    """``problem`` (as :func:`rules_problem` says it) after the name of what has it:
    ``CROSSSELL["RULES"]["PRICE_BAND"] must be...``, ``CROSSSELL["RULES"] has an unknown key...``."""
    return f"{name}{'' if problem.startswith('[') else ' '}{problem}"


def rules_problem(value: Any, keys: tuple[str, ...] = tuple(RULES_DEFAULTS)) -> str | None:
    """What is wrong with a dict of business rules (``CROSSSELL["RULES"]``, or a store's own
    rules with ``keys=STORE_RULE_KEYS``), said after the dict's name; None when it is valid."""
    if not isinstance(value, Mapping):
        return f"must be a dict of rules, got {type(value).__name__} {value!r}"
    for key in value:
        if key not in keys:
            if key == "MARGIN_WEIGHT":
                return 'has the key "MARGIN_WEIGHT", which is a setting of its own: write CROSSSELL["MARGIN_WEIGHT"]'
            if key in STORE_RULE_KEYS:
                return f"has the key {key!r}, which only a store's own rules may have (its admin page)"
            close = difflib.get_close_matches(str(key), keys, n=1)
            guess = f'; did you mean "{close[0]}"?' if close else ""
            return f"has an unknown key {key!r}{guess} (known keys: {', '.join(keys)})"
    caps = value.get("MAX_PER_KIND", {})
    if not isinstance(caps, Mapping):
        return f'["MAX_PER_KIND"] must be a dict of kind -> number of items, got {caps!r}'
    if problem := _kinds_problem("MAX_PER_KIND", caps):
        return problem
    for kind, cap in caps.items():
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= 1_000:
            return f'["MAX_PER_KIND"]["{kind}"] must be a whole number of items from 0 to 1000, got {cap!r}'
    excluded = value.get("EXCLUDED_KINDS", [])
    if not isinstance(excluded, list | tuple) or not all(isinstance(k, str) for k in excluded):
        return f'["EXCLUDED_KINDS"] must be a list of kinds, got {excluded!r}'
    if problem := _kinds_problem("EXCLUDED_KINDS", excluded):
        return problem
    band = value.get("PRICE_BAND", RULES_DEFAULTS["PRICE_BAND"])
    if band is not None and (
        not isinstance(band, list | tuple)
        or len(band) != 2
        or not all(_is_number(b) for b in band)
        or not 0 <= band[0] < band[1] <= 1_000
    ):
        return (
            f'["PRICE_BAND"] must be None or [low, high] (multiples of the price bought), 0 <= low < high, got {band!r}'
        )
    penalty = value.get("PRICE_PENALTY", 0.5)
    if not _is_number(penalty) or not 0 <= penalty <= 1:
        return f'["PRICE_PENALTY"] must be a number from 0 to 1 (what a score outside the band keeps), got {penalty!r}'
    if not isinstance(value.get("SEQUENCE_FIRST", True), bool):
        return f'["SEQUENCE_FIRST"] must be True or False, got {value["SEQUENCE_FIRST"]!r}'
    margin = value.get("MARGIN_WEIGHT", 0.0)
    if not _is_number(margin) or not 0 <= margin <= 10:
        return f'["MARGIN_WEIGHT"] must be a number from 0 to 10, got {margin!r}'
    items = value.get("EXCLUDED_ITEMS", [])
    if not isinstance(items, list | tuple) or not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        return f'["EXCLUDED_ITEMS"] must be a list of item ids (Item pks), got {items!r}'
    return None


def _platforms(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"must be a dict of platform id -> options dict, got {type(value).__name__}"
    for key, options in value.items():
        if not isinstance(key, str) or not isinstance(options, Mapping):
            return f"entry {key!r} must map a platform id (str) to a dict of options"
    return None


def _fernet_keys(value: Any) -> str | None:
    import base64
    import binascii

    if not isinstance(value, list | tuple) or not all(isinstance(key, str) for key in value):
        return f"must be a list of Fernet keys (strings), got {type(value).__name__}"  # never echo a secret
    for position, key in enumerate(value):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            return f"[{position}] is not a Fernet key (32 url-safe base64-encoded bytes)"
    return None


SETTINGS: dict[str, Setting] = {
    "MAX_EVENT_BYTES": Setting(
        default=1_048_576,
        doc="Largest accepted event, measured as the JSON size of its raw payload plus its fields. "
        "Bigger deliveries are rejected with PayloadTooLarge before anything is written.",
        validate=_int_between(1_024, 64 * 1_048_576),
        hint='Use a byte count such as "MAX_EVENT_BYTES": 1048576 (1 MiB).',
    ),
    "MAX_LINES_PER_ORDER": Setting(
        default=500,
        doc="Largest number of lines accepted in one purchase.",
        validate=_int_between(1, 100_000),
        hint='Use a positive integer such as "MAX_LINES_PER_ORDER": 500.',
    ),
    "ATTRIBUTION_WINDOW_DAYS": Setting(
        default=7,
        doc="Days after a recommendation during which a purchase of the recommended item counts as a conversion.",
        validate=_int_between(1, 365),
        hint='Use a number of days between 1 and 365, for example "ATTRIBUTION_WINDOW_DAYS": 7.',
    ),
    "CLICK_TOKEN_MAX_AGE_DAYS": Setting(
        default=30,
        doc="Days during which a recommendation link (its signed /crosssell/r/<token>/ redirect) keeps working; "
        "an older, tampered or malformed link shows a 400 page instead of redirecting.",
        validate=_int_between(1, 3650),
        hint='Use a number of days between 1 and 3650, for example "CLICK_TOKEN_MAX_AGE_DAYS": 30.',
    ),
    "CONSUMPTION_COMPLETE_AT": Setting(
        default=0.9,
        doc="Progress (0-1) from which a film or module counts as finished.",
        validate=_fraction,
        hint='Use a fraction such as "CONSUMPTION_COMPLETE_AT": 0.9 (90 % watched).',
    ),
    "HOLDOUT_SHARE": Setting(
        default=0.1,
        doc="Share of a store's customers (0-0.5) in its holdout: no block, no message, no offer, so that the "
        "uplift is measured against them. Read when the store's holdout experiment is created (with its first "
        "purchase); change it later on that experiment's arms in the admin. 0 = no holdout.",
        validate=_number_between(0, 0.5),
        hint='Use a fraction between 0 and 0.5 such as "HOLDOUT_SHARE": 0.1 (10 % held out).',
    ),
    "ROLLUP_REFUND_DAYS": Setting(
        default=60,
        doc="How long after a cohort's window closes the daily rollup still recomputes it, so that late "
        "refunds are netted out; older days are final.",
        validate=_int_between(0, 365),
        hint='Use a number of days between 0 and 365 such as "ROLLUP_REFUND_DAYS": 60.',
    ),
    "ROLLUP_PAIR_DAYS": Setting(
        default=90,
        doc="The trailing window (days) of the dashboard's top recommended pairs.",
        validate=_int_between(1, 365),
        hint='Use a number of days between 1 and 365 such as "ROLLUP_PAIR_DAYS": 90.',
    ),
    "VERDICT_MIN_CUSTOMERS": Setting(
        default=200,
        doc="Customers needed in each of treatment and holdout before the dashboard gives a verdict on the "
        'uplift; below it says "not enough data yet".',
        validate=_int_between(2, 10_000_000),
        hint='Use a whole number of customers such as "VERDICT_MIN_CUSTOMERS": 200.',
    ),
    "MODEL_CHECK_SECONDS": Setting(
        default=30,
        doc="How often (seconds) each process checks which trained model version is active for a store "
        "before serving recommendations; 0 checks on every call. A newly trained model is served at most "
        "this long after it was activated.",
        validate=_int_between(0, 86_400),
        hint='Use a number of seconds such as "MODEL_CHECK_SECONDS": 30 (0 = check on every call).',
    ),
    "MARGIN_WEIGHT": Setting(
        default=0.0,
        doc="How much unit margin lifts a recommendation: 0 ranks by relevance only, 0.3 lifts the "
        "best-margin candidate's score by 30 % (items without a known margin are not lifted).",
        validate=_number_between(0, 10),
        hint='Use a number between 0 and 10 such as "MARGIN_WEIGHT": 0.3 (0 = ignore margin).',
    ),
    "RULES": Setting(
        default=RULES_DEFAULTS,
        doc="The business rules applied to every recommendation list, before a store's own (set on the Store "
        "in the admin): MAX_PER_KIND (kind -> how many items of that kind come before the other kinds; the "
        "rest follow them, never dropped, and a store of one kind is not affected), EXCLUDED_KINDS (kinds "
        "never recommended), PRICE_BAND ([low, high] multiples of the price bought, or None) and "
        "PRICE_PENALTY (what the score of an item outside the band keeps), SEQUENCE_FIRST (the next "
        "module or episode first). A key left out keeps its default.",
        validate=rules_problem,
        hint='Write "RULES": {"MAX_PER_KIND": {"merch": 1}, "EXCLUDED_KINDS": [], "PRICE_BAND": [0, 3], '
        '"PRICE_PENALTY": 0.5, "SEQUENCE_FIRST": True} (every key optional; kinds: ' + _KIND_NAMES + ").",
    ),
    "API_RATE": Setting(
        default="600/min",
        doc="Most requests one API key (or staff user) may make to the REST API (/crosssell/api/v1/) "
        'per period, as "number/period" (s, min, hour or day); more get a 429 with a Retry-After header.',
        validate=rate_problem,
        hint='Use a rate such as "API_RATE": "600/min" (or "20/s", "10000/hour", "100000/day").',
    ),
    "BLOCK_CACHE_SECONDS": Setting(
        default=900,
        doc="How long a rendered recommendation block is reused for the same store, order (or customer, "
        "or item), placement and model version; 0 renders every time. Training a new model version "
        "starts a fresh block at once.",
        validate=_int_between(0, 86_400),
        hint='Use a number of seconds such as "BLOCK_CACHE_SECONDS": 900 (0 = no caching).',
    ),
    "IMPRESSION_FLUSH_SECONDS": Setting(
        default=1.0,
        doc="How often each process publishes the impressions its pages logged, as one "
        "crosssell.log_impressions task from a background thread (a page only appends to a list); "
        "0 publishes one task per block from the request itself. With eager tasks (no broker) "
        "impressions are always written at once.",
        validate=_number_between(0, 60),
        hint='Use a number of seconds such as "IMPRESSION_FLUSH_SECONDS": 1 (0 = publish from the request).',
    ),
    "SITE_STORE": Setting(
        default="",
        doc='The store whose pages this site serves, as "platform:external_id": visitors of those pages may '
        "call the REST API with their own session (their orders, their account, any item); empty = the "
        "Oscar store when integrations.oscar is installed, else none (API keys and staff sessions only).",
        validate=_store_ref,
        hint='Write "SITE_STORE": "custom:main" (a Store\'s platform and external id), or leave it out.',
    ),
    "SHOPPER_EMAIL_VERIFIED": Setting(
        default="crosssell_plugin.shoppers.allauth_email_verified",
        doc="How the REST API knows that a signed-in shopper's email address is theirs: the dotted path of a "
        "function (user) -> bool, True when the user's email is verified. A shopper whose email is verified "
        "also sees the orders, next-order recommendations and in-app messages of the customer with that "
        "email; one whose email is not sees only the orders placed in this browser or by their account. "
        "The default reads django-allauth's verified flag of the address (its EmailAddress) when "
        "allauth.account is installed, and else answers not verified: Django and Oscar sign accounts up "
        "without checking the address, so anyone could register with someone else's.",
        validate=_dotted_path,
        hint='Write "SHOPPER_EMAIL_VERIFIED": "myshop.accounts.email_verified" (a function taking the user '
        "and returning True when the user's email is verified).",
    ),
    "SITE_URL": Setting(
        default="",
        doc="The site's address for links in emails and SMS (which are read outside the site), e.g. "
        '"https://shop.example.com" or "https://example.com/shop"; empty = https:// + the domain of the '
        "current django.contrib.sites Site.",
        validate=_site_url,
        hint='Write "SITE_URL": "https://shop.example.com".',
    ),
    "SMS": Setting(
        default=SMS_DEFAULTS,
        doc="The SMS channel: BACKEND (dotted path; the console backend prints messages, "
        "crosssell_plugin.channels.sms.TwilioSmsBackend sends through a Twilio-style API), FROM (the "
        "sender number, E.164), ACCOUNT_SID, AUTH_TOKEN, BASE_URL and TIMEOUT_SECONDS.",
        validate=_sms,
        hint='Write "SMS": {"BACKEND": "crosssell_plugin.channels.sms.TwilioSmsBackend", "FROM": "+15005550006", '
        '"ACCOUNT_SID": "AC...", "AUTH_TOKEN": "..."}.',
    ),
    "FREQUENCY_CAP": Setting(
        default=3,
        doc="Most cross-sell follow-ups one customer receives per FREQUENCY_WINDOW_DAYS, across all paths "
        "and channels. A follow-up over the cap waits until a slot frees up; one that would wait more than "
        "FREQUENCY_WINDOW_DAYS past its planned time is skipped (reason: frequency cap). 0 sends none.",
        validate=_int_between(0, 1_000),
        hint='Use a number of messages such as "FREQUENCY_CAP": 3.',
    ),
    "FREQUENCY_WINDOW_DAYS": Setting(
        default=7,
        doc="The sliding window of FREQUENCY_CAP, in days.",
        validate=_int_between(1, 365),
        hint='Use a number of days such as "FREQUENCY_WINDOW_DAYS": 7.',
    ),
    "QUIET_HOURS": Setting(
        default={"START": "21:00", "END": "09:00"},
        doc="Local hours (the customer's time zone, else the store's) during which no follow-up is sent; "
        "one due then waits for END. None sends around the clock.",
        validate=_quiet_hours,
        hint='Write "QUIET_HOURS": {"START": "21:00", "END": "09:00"} (24-hour times) or "QUIET_HOURS": None.',
    ),
    "DISPATCH_BATCH_SIZE": Setting(
        default=100,
        doc="How many due follow-ups one dispatcher run claims at a time.",
        validate=_int_between(1, 10_000),
        hint='Use a positive number such as "DISPATCH_BATCH_SIZE": 100.',
    ),
    "LEASE_SECONDS": Setting(
        default=300,
        doc="How long a dispatcher holds the follow-ups it claimed. If it dies, another takes them over "
        "after this; it must exceed the time one batch takes to send.",
        validate=_int_between(1, 86_400),
        hint='Use a number of seconds such as "LEASE_SECONDS": 300.',
    ),
    "MAX_ATTEMPTS": Setting(
        default=5,
        doc="How many times a follow-up is tried after transient provider errors before it is marked failed.",
        validate=_int_between(1, 100),
        hint='Use a number of attempts such as "MAX_ATTEMPTS": 5.',
    ),
    "RETRY_BASE_SECONDS": Setting(
        default=30,
        doc="First retry delay after a transient error; it doubles on each attempt (with jitter) up to "
        "RETRY_MAX_SECONDS. A longer Retry-After from the provider wins.",
        validate=_number_between(0.01, 86_400),
        hint='Use a number of seconds such as "RETRY_BASE_SECONDS": 30.',
    ),
    "RETRY_MAX_SECONDS": Setting(
        default=3_600,
        doc="The longest delay between two attempts of a follow-up (before jitter).",
        validate=_number_between(0.01, 7 * 86_400),
        hint='Use a number of seconds such as "RETRY_MAX_SECONDS": 3600.',
    ),
    "WEBHOOK_MAX_BYTES": Setting(
        default=1_048_576,
        doc="Largest webhook body accepted; a longer one is answered 413 before it is read or stored.",
        validate=_int_between(1_024, 64 * 1_048_576),
        hint='Use a byte count such as "WEBHOOK_MAX_BYTES": 1048576 (1 MiB).',
    ),
    "WEBHOOK_RETENTION_DAYS": Setting(
        default=30,
        doc="Days a stored webhook delivery (its raw body holds customer data) is kept after it was received; "
        "the daily crosssell.purge_deliveries task and manage.py crosssell_purge_deliveries delete older processed, "
        "ignored and failed ones. Pending ones are kept (they still hold work) and reported.",
        validate=_int_between(1, 3650),
        hint='Use a number of days between 1 and 3650, for example "WEBHOOK_RETENTION_DAYS": 30.',
    ),
    "ENCRYPTION_KEYS": Setting(
        default=[],
        doc="Fernet keys that encrypt platform secrets at rest (API keys, webhook signing secrets): the "
        "first encrypts, every one decrypts, so a new key goes first and old ones stay until re-saved. "
        "Empty = keys derived from SECRET_KEY and SECRET_KEY_FALLBACKS.",
        validate=_fernet_keys,
        hint='Write "ENCRYPTION_KEYS": ["<key>"] with keys from '
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`.",
    ),
    "TRUSTED_PROXIES": Setting(
        default=0,
        doc="How many reverse proxies in front of the site append to X-Forwarded-For: the API's rate "
        "limit of guests counts the address the nearest of them saw. 0 (the default) counts REMOTE_ADDR "
        "and ignores X-Forwarded-For, which any client can write.",
        validate=_int_between(0, 10),
        hint='Use the number of proxies such as "TRUSTED_PROXIES": 1 (one load balancer), or 0 for none.',
    ),
    "FAST_CADENCE": Setting(
        default=False,
        doc="For demos and for trying a path out: every hour of a follow-up step's delay counts as a "
        "minute (the classic 1 hour, 24 hours and 7 days become 1, 24 and 168 minutes). Off in "
        "production; ``manage.py check --deploy`` warns when it is on with DEBUG off.",
        validate=_bool,
        hint='Write "FAST_CADENCE": True (minutes) or False (the steps\' real delays, the default).',
    ),
    "PLATFORMS": Setting(
        default={},
        doc="Per-platform options, keyed by platform id (oscar, shopify, teachable, vimeo_ott, "
        "stripe). Each integration documents and checks its own keys.",
        validate=_platforms,
        hint='Write "PLATFORMS": {"oscar": {"STORE_NAME": "My shop"}}.',
    ),
}


class CrossSellSettings:
    """Attribute access to ``settings.CROSSSELL`` with defaults, read live on every access."""

    def _user_settings(self) -> Mapping[str, Any]:
        value = getattr(django_settings, "CROSSSELL", None)
        return value if isinstance(value, Mapping) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in SETTINGS:
            raise AttributeError(f"CROSSSELL has no setting {name!r}")
        return self._user_settings().get(name, SETTINGS[name].default)

    def platform(self, platform_id: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Options for one platform: ``defaults`` updated with ``CROSSSELL["PLATFORMS"][id]``."""
        options = dict(defaults)
        options.update(self.platform_overrides(platform_id))
        return options

    def platform_overrides(self, platform_id: str) -> Mapping[str, Any]:
        """What the user wrote for one platform ({} if nothing, or if it is not a dict:
        the ``crosssell.E003`` check reports that)."""
        platforms = self.PLATFORMS
        given = platforms.get(platform_id, {}) if isinstance(platforms, Mapping) else {}
        return given if isinstance(given, Mapping) else {}


crosssell_settings = CrossSellSettings()

#: how much FAST_CADENCE shortens a step's delay: an hour becomes a minute
FAST_CADENCE_FACTOR = 60


def followup_delay(delay: timedelta) -> timedelta:
    """The delay after the purchase at which a step with ``delay`` is due: ``delay`` itself, or a
    sixtieth of it with ``CROSSSELL["FAST_CADENCE"]`` (an hour becomes a minute)."""
    return delay / FAST_CADENCE_FACTOR if crosssell_settings.FAST_CADENCE is True else delay


def validation_errors() -> list[tuple[str, str, str]]:
    """Problems in the user's ``CROSSSELL`` dict as ``(check id, message, hint)`` tuples."""
    raw = getattr(django_settings, "CROSSSELL", {})
    if not isinstance(raw, Mapping):
        return [
            (
                "crosssell.E001",
                f"CROSSSELL must be a dict, got {type(raw).__name__}.",
                "Write CROSSSELL = {} (or remove it) and add only the keys you want to change.",
            )
        ]
    problems = []
    for key, value in raw.items():
        spec = SETTINGS.get(key)
        if spec is None:
            close = difflib.get_close_matches(str(key), SETTINGS, n=1)
            hint = f'Did you mean "{close[0]}"? ' if close else ""
            hint += "Known keys: " + ", ".join(sorted(SETTINGS)) + "."
            problems.append(("crosssell.E002", f"CROSSSELL has an unknown key {key!r}.", hint))
            continue
        error = spec.validate(value)
        if error:
            problems.append(("crosssell.E003", described(f'CROSSSELL["{key}"]', error) + ".", spec.hint))
    return problems
