"""Shopify authentication: signed requests, token grants, token lifetimes, session tokens.

What this module offers the rest of the integration (all per shop; nothing process-global):

* :func:`normalize_shop_domain` - the only shop hosts accepted: ``^[a-z0-9][a-z0-9-]*\\.myshopify\\.com$``.
* :func:`verify_signed_query` - an install or callback request: its ``hmac``, its ``timestamp``
  (``TIMESTAMP_TOLERANCE_SECONDS`` either way) and its ``shop``.
* :func:`authorize_url`, :func:`exchange_code` - the authorization-code grant, asking for an
  **expiring** offline token (``expiring=1``).
* :func:`exchange_session_token` - token exchange for embedded apps (session token -> offline token).
* :func:`access_token` - a usable offline token of a shop, refreshed first when it expires within
  ``REFRESH_MARGIN_SECONDS``; :func:`migrate_to_expiring` for a shop still on a non-expiring token.
* :func:`revoke` - ``app/uninstalled``: tokens cleared at once, the shop uninstalled, its Store inactive.
* :func:`admin_session`, :func:`extension_session` - session tokens (JWT) of embedded admin pages
  and of checkout / customer-account extensions, as a :class:`SessionToken`.
* :func:`reencrypt_tokens` - after a new key was put first in ``CROSSSELL["ENCRYPTION_KEYS"]``.

**Why not the ShopifyAPI package here.** ``shopify.Session.validate_hmac`` reads the secret from
the class (``Session.setup()``: one secret per process, shared by every thread), takes one value per
key, and ``validate_params`` allows a day-old timestamp; ``shopify.session_token.decode_from_header``
requires ``sub`` and ``sid``, so it rejects the token of an anonymous buyer's checkout extension,
and fixes the leeway at 10 s; ``Session.request_token`` posts without a timeout and keeps neither
the expiry nor the refresh token, and there is no token exchange or refresh. Each check is a few
lines on the standard library and PyJWT (which ShopifyAPI installs), with the secret passed in, so
nothing here touches ShopifyAPI's process-global session.

**Signatures.** The query's ``hmac`` is the hex HMAC-SHA256 (client secret) of the other
parameters sorted by key, ``k=v`` joined with ``&``. Shopify's docs (and its older Python and Ruby
libraries) render values as they are with ``%``, ``&`` (and ``=`` in keys) escaped; its JavaScript
library signs the form-encoded query. Both renderings are unambiguous, the message is accepted if
the digest of either matches, always compared with :func:`hmac.compare_digest`. ``OLD_API_SECRET``
is accepted too while the client secret is being rotated.

**Refresh under a lock.** An expiring token lasts an hour and each refresh rotates the pair, so two
workers must not both spend the refresh token: :func:`access_token` locks the shop's row
(``SELECT ... FOR UPDATE``; on SQLite the write transaction queues writers), reads it again, and
only then asks Shopify, saving the new pair in the same transaction. A worker that waited finds the
new token and returns it without a request. Shopify keeps the previous refresh token valid until its
replacement is used, so a request whose answer is lost (the transaction rolls back) can be retried.

Secrets (the client secret, codes, tokens) never appear in a message, a log line or a ``repr``
(:class:`TokenSet` hides them), and the functions that hold them are ``sensitive_variables``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from crosssell_plugin.exceptions import CrossSellError, PlatformAPIError
from crosssell_plugin.models import Store

from . import conf
from .models import TOKEN_FIELDS, ShopifyShop
from .signals import shop_uninstalled

logger = logging.getLogger(__name__)

SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
SUFFIX = ".myshopify.com"
#: seconds to open a connection to Shopify (the read timeout is TIMEOUT_SECONDS)
CONNECT_TIMEOUT = 5

#: OAuth URNs of token exchange (names of grant and token types, not secrets)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"  # noqa: S105


# --- errors -----------------------------------------------------------------------------------


class InvalidShopifyRequest(CrossSellError, SuspiciousOperation):
    """A request that claims to come from Shopify is not authentic or not well formed (bad hmac,
    stale timestamp, bad shop, unknown state). The message says which, and never quotes a secret."""


class InvalidShopDomain(InvalidShopifyRequest, ValueError):
    """A shop domain is not a ``*.myshopify.com`` host."""


class InvalidSessionToken(InvalidShopifyRequest):
    """A session token (JWT) is expired, for another app, badly signed or names a bad shop."""


class ShopifyTokenError(PlatformAPIError):
    """Shopify refused a token request (``error`` is its OAuth error code, e.g. ``invalid_grant``)
    or did not answer it (``status_code`` None)."""

    def __init__(self, message: str, *, status_code: int | None = None, error: str = "") -> None:
        self.error = error
        super().__init__(message, platform="Shopify", status_code=status_code, response_text=error)


class ShopNotInstalled(CrossSellError, LookupError):
    """A shop has no usable token: it uninstalled the app, or its refresh token expired (the
    merchant opens the app again to install it anew)."""


# --- shop domains -----------------------------------------------------------------------------


def normalize_shop_domain(value: object) -> str:
    """``value`` as a shop's ``*.myshopify.com`` domain in lower case; InvalidShopDomain naming the problem."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidShopDomain("The shop domain is missing.")
    domain = value.strip().lower()
    shown = repr(value[:100])
    if any(char in domain for char in "/:?#@\\ "):
        raise InvalidShopDomain(
            f"The shop domain {shown} must be the bare host (like films.myshopify.com): "
            "no scheme, port, path or spaces."
        )
    if not domain.endswith(SUFFIX) or domain == SUFFIX[1:]:
        raise InvalidShopDomain(
            f"The shop domain {shown} is not a *.myshopify.com domain: use the shop's permanent myshopify.com "
            "domain, not a custom one."
        )
    handle = domain[: -len(SUFFIX)]
    if len(handle) > 63:
        raise InvalidShopDomain(f"The shop domain {shown} has a {len(handle)}-character name; the limit is 63.")
    if not SHOP_DOMAIN.fullmatch(domain):
        raise InvalidShopDomain(
            f"The shop domain {shown} may hold only a-z, 0-9 and '-' before .myshopify.com, starting with a "
            "letter or digit."
        )
    return domain


def _host_of(value: object, claim: str) -> tuple[str, str]:
    """(shop domain, path) of a session token's ``iss`` or ``dest`` (``https://x.myshopify.com[/admin]``)."""
    if not isinstance(value, str) or not value:
        raise InvalidSessionToken(f"The session token's {claim} is empty.")
    if "://" not in value:
        host, path = value, ""
    else:
        parts = urlsplit(value)
        if parts.scheme != "https" or parts.username or parts.port or parts.query or parts.fragment:
            raise InvalidSessionToken(f"The session token's {claim} {value[:100]!r} is not an https shop URL.")
        host, path = parts.hostname or "", parts.path.rstrip("/")
    try:
        return normalize_shop_domain(host), path
    except InvalidShopDomain as err:
        raise InvalidSessionToken(f"The session token's {claim} names no valid shop: {err}") from None


# --- signed requests (install, callback) ------------------------------------------------------

_FORM_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-._")


def _form(text: str) -> str:
    """application/x-www-form-urlencoded, as a browser's URLSearchParams writes it."""
    return "".join(
        chr(byte) if byte in _FORM_SAFE else "+" if byte == 0x20 else f"%{byte:02X}" for byte in text.encode()
    )


def _raw(text: str, *, key: bool = False) -> str:
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if key else text


def _pairs(query: Any) -> list[tuple[str, list[str]]]:
    items = query.lists() if hasattr(query, "lists") else query.items()
    pairs = []
    for key, value in items:
        values = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        if len(values) > 1 and not key.endswith("[]"):
            raise InvalidShopifyRequest(
                f"The parameter {key[:50]!r} appears {len(values)} times; Shopify sends it once."
            )
        pairs.append((str(key), values))
    return pairs


def signed_messages(query: Any) -> tuple[bytes, bytes]:
    """The two renderings of a query that Shopify's ``hmac`` may sign (see the module docstring):
    raw values with ``%``/``&`` escaped, and the form-encoded query; ``hmac`` and ``signature`` left out."""
    pairs = sorted((k, v) for k, v in _pairs(query) if k not in ("hmac", "signature"))
    raw = []
    for key, values in pairs:
        if key.endswith("[]"):  # ids[]=1&ids[]=2 is signed as ids=["1", "2"]
            raw.append(f"{_raw(key[:-2], key=True)}={_raw(json.dumps(values))}")
        else:
            raw.append(f"{_raw(key, key=True)}={_raw(values[0])}")
    form = "&".join(f"{_form(key)}={_form(','.join(values))}" for key, values in pairs)
    return "&".join(sorted(raw)).encode(), form.encode()


def sign_query(query: Mapping[str, str], secret: str) -> str:
    """The ``hmac`` Shopify would put on ``query`` (form-encoded rendering); for tests and tools."""
    return hmac.new(secret.encode(), signed_messages(query)[1], hashlib.sha256).hexdigest()


@sensitive_variables()
def verify_query_hmac(query: Any, secrets: Sequence[str] | None = None) -> None:
    """Raise InvalidShopifyRequest unless the query's ``hmac`` was made with the app's secret."""
    given = dict(_pairs(query)).get("hmac", [""])[0].strip().lower()
    if not given:
        raise InvalidShopifyRequest("The request has no hmac parameter: it does not come from Shopify.")
    if not re.fullmatch(r"[0-9a-f]{64}", given):
        raise InvalidShopifyRequest("The request's hmac is not a hex SHA-256 digest.")
    messages = signed_messages(query)
    matched = False
    for secret in secrets or conf.credentials().verifying_secrets():
        for message in messages:
            expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
            matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise InvalidShopifyRequest(
            "The request's hmac does not match its parameters: it was not signed by Shopify with this app's "
            "client secret (API_SECRET), or it was changed on the way."
        )


def check_timestamp(value: object, *, tolerance: int | None = None, now: datetime | None = None) -> datetime:
    """The signed ``timestamp`` (Unix seconds) as an aware datetime; InvalidShopifyRequest when it is
    missing, malformed, or further than ``TIMESTAMP_TOLERANCE_SECONDS`` from now either way."""
    if value in (None, ""):
        raise InvalidShopifyRequest("The request has no timestamp parameter.")
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 11:
        raise InvalidShopifyRequest(f"The request's timestamp {text[:20]!r} is not a Unix time in seconds.")
    limit = conf.options()["TIMESTAMP_TOLERANCE_SECONDS"] if tolerance is None else tolerance
    stamped = datetime.fromtimestamp(int(text), UTC)
    drift = ((now or timezone.now()) - stamped).total_seconds()
    if abs(drift) > limit:
        when = f"{int(drift)} seconds old" if drift > 0 else f"{int(-drift)} seconds in the future"
        raise InvalidShopifyRequest(
            f"The request's timestamp is {when}; signed requests more than {limit} seconds from now are refused "
            "(TIMESTAMP_TOLERANCE_SECONDS). Start the install again from Shopify."
        )
    return stamped


def verify_signed_query(query: Any) -> str:
    """Check an install or callback query (hmac, then timestamp, then shop) and return the shop domain."""
    verify_query_hmac(query)
    params = dict(_pairs(query))
    check_timestamp(params.get("timestamp", [""])[0])
    return normalize_shop_domain(params.get("shop", [""])[0])


# --- grants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    """What a token grant returned; the tokens are left out of ``repr``."""

    access_token: str = field(repr=False)
    scope: str = ""
    #: None for a non-expiring token
    expires_at: datetime | None = None
    refresh_token: str = field(default="", repr=False)
    refresh_token_expires_at: datetime | None = None

    @classmethod
    def from_response(cls, data: Any, *, issued_at: datetime) -> TokenSet:
        """Read Shopify's JSON answer (``access_token``, ``scope``, ``expires_in``, ``refresh_token``,
        ``refresh_token_expires_in``); expiries count from ``issued_at``, when the request was sent."""
        token = data.get("access_token") if isinstance(data, Mapping) else None
        if not isinstance(token, str) or not token:
            raise ShopifyTokenError("Shopify's token answer has no access_token.")

        def expiry(key: str) -> datetime | None:
            seconds = data.get(key)
            if seconds is None:
                return None
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
                raise ShopifyTokenError(f"Shopify's token answer has a bad {key}: {seconds!r}.")
            return issued_at + timedelta(seconds=seconds)

        refresh = data.get("refresh_token") or ""
        if not isinstance(refresh, str):
            raise ShopifyTokenError("Shopify's token answer has a refresh_token that is not text.")
        scope = data.get("scope") or ""
        return cls(
            access_token=token,
            scope=scope if isinstance(scope, str) else "",
            expires_at=expiry("expires_in"),
            refresh_token=refresh,
            refresh_token_expires_at=expiry("refresh_token_expires_in") if refresh else None,
        )


def authorize_url(
    *, shop: str, state: str, redirect_uri: str, scopes: Iterable[str] | None = None, online: bool = False
) -> str:
    """``https://{shop}/admin/oauth/authorize?...``, where the merchant approves the install.
    Offline access unless ``online`` (``grant_options[]=per-user``)."""
    query = {
        "client_id": conf.credentials().api_key,
        "scope": ",".join(conf.scopes() if scopes is None else scopes),
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if online:
        query["grant_options[]"] = "per-user"
    return f"https://{normalize_shop_domain(shop)}/admin/oauth/authorize?{urlencode(query)}"


@sensitive_variables()
def _grant(shop: str, what: str, fields: Mapping[str, Any]) -> TokenSet:
    """POST a grant to ``https://{shop}/admin/oauth/access_token`` (JSON, with the app's credentials)."""
    domain = normalize_shop_domain(shop)
    creds = conf.credentials()
    body = {"client_id": creds.api_key, "client_secret": creds.secret, **fields}
    issued_at = timezone.now()
    try:
        response = requests.post(
            f"https://{domain}/admin/oauth/access_token",
            json=body,
            headers={"Accept": "application/json", "User-Agent": "crosssell"},
            timeout=(CONNECT_TIMEOUT, conf.options()["TIMEOUT_SECONDS"]),
        )
    except requests.RequestException as err:
        logger.warning("Shopify %s for %s did not complete: %s", what, domain, type(err).__name__)
        raise ShopifyTokenError(f"Shopify did not answer the {what} for {domain} ({type(err).__name__}).") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200:
        error = str(data.get("error", "")) if isinstance(data, Mapping) else ""
        detail = str(data.get("error_description", "")) if isinstance(data, Mapping) else ""
        logger.warning("Shopify refused the %s for %s: HTTP %s %s", what, domain, response.status_code, error)
        raise ShopifyTokenError(
            f"Shopify refused the {what} for {domain}: {error or 'no error code'}"
            + (f" ({detail[:200]})" if detail else ""),
            status_code=response.status_code,
            error=error[:100],
        )
    return TokenSet.from_response(data, issued_at=issued_at)


@sensitive_variables()
def exchange_code(shop: str, code: str) -> TokenSet:
    """The authorization-code grant: the callback's ``code`` for an expiring offline token."""
    if not code:
        raise InvalidShopifyRequest("The callback has no code parameter.")
    return _grant(shop, "authorization code exchange", {"code": code, "expiring": 1})


@sensitive_variables()
def exchange_session_token(session_token: str, *, shop: str) -> TokenSet:
    """Token exchange (embedded apps): a valid admin session token for an expiring offline token.
    Validate the token first (:func:`admin_session`) and pass its shop."""
    return _grant(
        shop,
        "token exchange",
        {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN,
            "requested_token_type": OFFLINE_TOKEN,
            "expiring": 1,
        },
    )


# --- token lifetimes ------------------------------------------------------------------------


def _usable(shop: ShopifyShop, now: datetime, margin: timedelta) -> bool:
    if not shop.is_installed:
        return False
    expires = shop.access_token_expires_at
    return expires is None or expires - margin > now


def _not_installed(shop: ShopifyShop) -> ShopNotInstalled:
    if shop.uninstalled_at is not None:
        return ShopNotInstalled(
            f"The Shopify shop {shop.domain} uninstalled the app on {shop.uninstalled_at:%Y-%m-%d}."
        )
    return ShopNotInstalled(f"The Shopify shop {shop.domain} holds no access token: install the app again.")


def _copy_tokens(source: ShopifyShop, target: ShopifyShop) -> None:
    for name in (*TOKEN_FIELDS, "uninstalled_at"):
        setattr(target, name, getattr(source, name))


@sensitive_variables()
def access_token(shop: ShopifyShop) -> str:
    """A usable offline access token of ``shop``. The instance is checked first (no query); a token
    that expires within ``REFRESH_MARGIN_SECONDS`` is refreshed under the shop's row lock (see the
    module docstring), and ``shop`` is updated with what was saved. ShopNotInstalled when the shop
    has none; ShopifyTokenError when Shopify refuses the refresh or does not answer."""
    margin = timedelta(seconds=conf.options()["REFRESH_MARGIN_SECONDS"])
    if _usable(shop, timezone.now(), margin):
        return shop.access_token
    with transaction.atomic():
        locked = ShopifyShop.objects.select_for_update().get(pk=shop.pk)
        now = timezone.now()
        if not _usable(locked, now, margin):
            if not locked.is_installed:
                raise _not_installed(locked)
            _refresh(locked, now)
    _copy_tokens(locked, shop)
    return locked.access_token


@sensitive_variables()
def _refresh(locked: ShopifyShop, now: datetime) -> None:
    expires = locked.refresh_token_expires_at
    if not locked.refresh_token or (expires is not None and expires <= now):
        why = "expired" if locked.refresh_token else "is missing"
        raise ShopNotInstalled(
            f"The refresh token of the Shopify shop {locked.domain} {why}: the merchant opens the app again "
            "to grant a new token."
        )
    tokens = _grant(
        locked.domain, "token refresh", {"grant_type": "refresh_token", "refresh_token": locked.refresh_token}
    )
    locked.apply_tokens(tokens, now)
    locked.save(update_fields=TOKEN_FIELDS)
    logger.info("Refreshed the Shopify access token of %s (valid until %s)", locked.domain, tokens.expires_at)


@sensitive_variables()
def migrate_to_expiring(shop: ShopifyShop) -> ShopifyShop:
    """Trade a shop's non-expiring offline token for an expiring pair (Shopify rejects non-expiring
    tokens of public apps from 2027-01-01). Nothing to do for a shop that already has one."""
    with transaction.atomic():
        locked = ShopifyShop.objects.select_for_update().get(pk=shop.pk)
        if not locked.is_installed:
            raise _not_installed(locked)
        if not locked.has_expiring_token:
            fields = {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": locked.access_token,
                "subject_token_type": OFFLINE_TOKEN,
                "requested_token_type": OFFLINE_TOKEN,
                "expiring": 1,
            }
            tokens = _grant(locked.domain, "migration to an expiring token", fields)
            locked.apply_tokens(tokens, timezone.now())
            locked.save(update_fields=TOKEN_FIELDS)
    _copy_tokens(locked, shop)
    return shop


def revoke(shop: ShopifyShop | str, *, occurred_at: datetime | None = None) -> ShopifyShop | None:
    """``app/uninstalled``: clear the shop's tokens now, mark it uninstalled and its Store inactive
    (one transaction), then send ``shop_uninstalled``. ``shop`` may be a domain; an unknown one
    returns None. An uninstall that ``occurred_at`` before the shop's latest install (a late
    webhook after a reinstall) changes nothing. Safe to call twice."""
    with transaction.atomic():
        query = ShopifyShop.objects.select_for_update()
        if isinstance(shop, ShopifyShop):
            locked = query.get(pk=shop.pk)
        else:
            found = query.filter(domain=normalize_shop_domain(shop)).first()
            if found is None:
                return None
            locked = found
        if occurred_at is not None and occurred_at < locked.installed_at:
            logger.info("Ignored an uninstall of %s older than its latest install", locked.domain)
            return locked
        now = timezone.now()
        locked.access_token = locked.refresh_token = ""
        locked.access_token_expires_at = locked.refresh_token_expires_at = None
        locked.uninstalled_at = locked.uninstalled_at or now
        locked.save(update_fields=[*TOKEN_FIELDS, "uninstalled_at"])
        Store.objects.filter(pk=locked.store_id).update(is_active=False, updated_at=now)
        transaction.on_commit(lambda: shop_uninstalled.send_robust(sender=ShopifyShop, shop=locked))
    logger.info(
        "Shopify shop %s uninstalled the app: tokens cleared, store %s inactive", locked.domain, locked.store_id
    )
    if isinstance(shop, ShopifyShop):
        _copy_tokens(locked, shop)
    return locked


def reencrypt_tokens() -> int:
    """Encrypt every shop's tokens again with the first key of ``CROSSSELL["ENCRYPTION_KEYS"]`` (each
    row under its lock, so a concurrent refresh is not overwritten); the number of shops."""
    count = 0
    for pk in ShopifyShop.objects.values_list("pk", flat=True).order_by("pk"):
        with transaction.atomic():
            locked = ShopifyShop.objects.select_for_update().get(pk=pk)
            locked.save(update_fields=["access_token", "refresh_token"])
        count += 1
    return count


# --- session tokens (JWT) -----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionToken:
    """A verified session token. ``shop`` is the domain it was issued for; ``sub`` is the staff
    user's id (admin) or the customer's GID (extensions, only for a signed-in buyer), else None."""

    shop: str
    sub: str | None
    expires_at: datetime
    session_id: str | None = None
    token_id: str | None = None

    @property
    def customer_gid(self) -> str | None:
        """``gid://shopify/Customer/<id>`` of a signed-in buyer (extension tokens), else None."""
        return self.sub if self.sub and self.sub.startswith("gid://shopify/Customer/") else None


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; InvalidSessionToken without one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidSessionToken("The request has no 'Authorization: Bearer <session token>' header.")
    return token.strip()


_JWT_ERRORS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "The session token has expired: fetch a new one for each request."),
    (jwt.ImmatureSignatureError, "The session token is not valid yet (its nbf or iat is in the future)."),
    (jwt.InvalidAudienceError, "The session token is for another app: its aud is not this app's API_KEY."),
    (jwt.InvalidSignatureError, "The session token's signature does not match this app's client secret."),
    (jwt.InvalidAlgorithmError, "The session token is not signed with HS256."),
    (jwt.DecodeError, "The session token is not a well-formed JWT."),
]


@sensitive_variables()
def _claims(token: str, required: list[str]) -> dict[str, Any]:
    creds = conf.credentials()
    leeway = conf.options()["SESSION_TOKEN_LEEWAY_SECONDS"]
    error: jwt.PyJWTError | None = None
    for secret in creds.verifying_secrets():
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=creds.api_key,
                leeway=leeway,
                options={"require": required},
            )
            return claims
        except jwt.InvalidSignatureError as err:
            error = err  # perhaps made with the previous secret
        except jwt.MissingRequiredClaimError as err:
            raise InvalidSessionToken(f"The session token has no {err.claim!r} claim.") from None
        except jwt.PyJWTError as err:
            error = err
            break
    for kind, message in _JWT_ERRORS:
        if isinstance(error, kind):
            raise InvalidSessionToken(message) from None
    raise InvalidSessionToken(f"The session token is invalid ({type(error).__name__}).") from None


def _session(token: str, *, admin: bool, shop: str | None) -> SessionToken:
    required = ["exp", "aud", "dest", "iss", "sub", "nbf"] if admin else ["exp", "aud", "dest"]
    claims = _claims(token, required)
    dest, _ = _host_of(claims.get("dest"), "dest")
    if "iss" in claims:
        issuer, path = _host_of(claims.get("iss"), "iss")
        if issuer != dest:
            raise InvalidSessionToken(f"The session token's iss ({issuer}) and dest ({dest}) name different shops.")
        if admin and path != "/admin":
            raise InvalidSessionToken("The session token was not issued by the shop's admin (iss is not .../admin).")
    sub = claims.get("sub")
    sub = str(sub) if sub not in (None, "") else None
    if admin and (sub is None or sub.startswith("gid://shopify/Customer/")):
        raise InvalidSessionToken("The session token names no staff user (sub): it is not an admin session token.")
    if shop is not None and normalize_shop_domain(shop) != dest:
        raise InvalidSessionToken(f"The session token is for the shop {dest}, not {normalize_shop_domain(shop)}.")
    sid, jti = claims.get("sid"), claims.get("jti")
    return SessionToken(
        shop=dest,
        sub=sub,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        session_id=str(sid) if sid else None,
        token_id=str(jti) if jti else None,
    )


def admin_session(token: str, *, shop: str | None = None) -> SessionToken:
    """Verify the session token of an embedded admin page (App Bridge): HS256 with the client secret,
    ``aud`` = API_KEY, ``exp``/``nbf`` within SESSION_TOKEN_LEEWAY_SECONDS, ``iss`` the admin of
    the shop named in ``dest`` (both ``*.myshopify.com``), and a staff user in ``sub``. ``shop``,
    if given, must be that shop. InvalidSessionToken naming the problem otherwise."""
    return _session(token, admin=True, shop=shop)


def extension_session(token: str, *, shop: str | None = None) -> SessionToken:
    """Verify the session token of a checkout or customer-account UI extension: as
    :func:`admin_session`, but ``sub`` (the buyer) is absent for an anonymous buyer and ``iss``, when
    present, need only name the same shop as ``dest``. Such a token cannot be exchanged for access."""
    return _session(token, admin=False, shop=shop)
