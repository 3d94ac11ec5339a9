"""Twilio's inbound-message webhook: SMS opt-out (STOP) withdraws marketing consent.

Point the "A message comes in" webhook of your Twilio number (HTTP POST) at
``https://<your site>/crosssell/sms/inbound/``. Every request must carry a valid
``X-Twilio-Signature``, computed with ``CROSSSELL["SMS"]["AUTH_TOKEN"]`` over the URL Twilio
called: behind a proxy that terminates TLS or rewrites the host, set Django's
``SECURE_PROXY_SSL_HEADER`` / ``USE_X_FORWARDED_HOST`` so ``request.build_absolute_uri()`` gives
back that same URL, or every request is refused with 403. A body Django refuses to read (larger
than ``DATA_UPLOAD_MAX_MEMORY_SIZE``, too many fields) is answered 413 or 400 with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from functools import partial
from urllib.parse import urlsplit, urlunsplit

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, QueryDict
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ... import jsonbody
from ...events import Channel
from ...models import Customer, CustomerConsent
from ...signals import consent_withdrawn
from .channel import SEPARATORS, normalize_e164, sms_options

logger = logging.getLogger(__name__)

#: Twilio's default opt-out keywords: the whole body, any case, surrounding spaces ignored.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
#: Twilio's default opt-in keywords (logged only: see :func:`inbound`).
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
SOURCE = "sms STOP"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def twilio_signature(auth_token: str, url: str, params: QueryDict | dict[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a POST of ``params`` to ``url``.

    Base64 of HMAC-SHA1, keyed with the Auth Token, over the full URL followed by every POST
    parameter name and value, sorted by name (case-sensitive) with no separators; a repeated
    name contributes each of its values, sorted.
    """
    data = url
    for name in sorted(set(params)):
        values = params.getlist(name) if isinstance(params, QueryDict) else [params[name]]
        data += "".join(name + value for value in sorted(values))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> set[str]:
    """``url`` with and without its port: Twilio signs either form (as its own SDKs allow for)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    without_port = urlunsplit(parts._replace(netloc=prefix + host))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{parts.port or default_port}"))
    return {url, without_port, with_port}


def is_valid_signature(auth_token: str, url: str, params: QueryDict, signature: str) -> bool:
    """True when ``signature`` is Twilio's signature of this request (compared in constant time)."""
    if not auth_token or not signature:
        return False
    given = signature.encode("utf-8")
    return any(
        hmac.compare_digest(twilio_signature(auth_token, variant, params).encode("ascii"), given)
        for variant in _url_variants(url)
    )


def _twiml() -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    """Handle one inbound SMS from Twilio and answer with empty TwiML (no reply is sent).

    An opt-out keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) withdraws SMS marketing
    consent of every customer, in every store, whose phone is the sender's number, and sends
    ``consent_withdrawn`` for each customer whose consent was not already withdrawn.

    An opt-in keyword (START, UNSTOP, YES) grants nothing: it makes the carrier and Twilio deliver
    to that number again, but marketing consent must come from the store's own opt-in (a checkout
    checkbox, a signup form), recorded with its source and date; a customer restarting delivery of
    messages from the number has not agreed to cross-sell marketing. It is only logged.

    Any other text is ignored. A missing or wrong ``X-Twilio-Signature`` gets 403, any method but
    POST 405, a body too large to read 413 (too many fields or a broken body 400).
    """
    auth_token = str(sms_options()["AUTH_TOKEN"])
    if not auth_token:
        logger.error('Refused an inbound SMS webhook: CROSSSELL["SMS"]["AUTH_TOKEN"] is not set')
        return HttpResponseForbidden("Webhook signing is not configured.")
    try:
        params = jsonbody.form(request)
    except jsonbody.InvalidBody as err:
        logger.warning("Refused an inbound SMS webhook: %s", err)
        return HttpResponse(str(err), status=err.status, content_type="text/plain; charset=utf-8")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not is_valid_signature(auth_token, request.build_absolute_uri(), params, signature):
        logger.warning("Refused an inbound SMS webhook with a missing or invalid X-Twilio-Signature")
        return HttpResponseForbidden("Invalid signature.")
    keyword = params.get("Body", "").strip().upper()
    if keyword in OPT_OUT_KEYWORDS:
        _opt_out(params.get("From", ""), params.get("MessageSid", ""))
    elif keyword in OPT_IN_KEYWORDS:
        logger.info(
            "SMS %s received (message %s): Twilio delivers to that number again, but SMS marketing "
            "consent stays as recorded until the customer opts in through the store",
            keyword,
            params.get("MessageSid", ""),
        )
    return _twiml()


def _opt_out(sender: str, message_sid: str) -> None:
    try:
        number = normalize_e164(sender)
    except ValueError:
        logger.warning("Ignored an SMS opt-out (message %s): the sender is not an E.164 number", message_sid)
        return
    withdrawn = withdraw_sms_consent(number)
    logger.info("SMS opt-out (message %s): consent withdrawn for %d customer(s)", message_sid, len(withdrawn))


def _phone_pattern(number: str) -> str:
    """A regular expression matching stored phones that normalize to ``number``.

    Written for both SQLite (Python's ``re``) and PostgreSQL: literal characters in brackets only.
    """
    gap = "[" + "".join(sorted(set(SEPARATORS) - {"-"})) + "-]*"
    return "^" + gap + "[+]" + gap + gap.join(number[1:]) + gap + "$"


def customers_with_phone(number: str) -> list[Customer]:
    """Customers of every store whose ``phone`` normalizes to the E.164 ``number``."""
    candidates = Customer.objects.filter(phone__regex=_phone_pattern(number)).order_by("pk")
    return [customer for customer in candidates if _normalizes_to(customer.phone, number)]


def _normalizes_to(phone: str, number: str) -> bool:
    try:
        return normalize_e164(phone) == number
    except ValueError:
        return False


def withdraw_sms_consent(number: str, source: str = SOURCE) -> list[Customer]:
    """Record that ``number`` withdrew SMS marketing consent, for every customer with that phone.

    Each matching customer's SMS consent becomes ``granted=False`` with ``source`` and the current
    time. After commit, ``consent_withdrawn`` is sent for the customers whose consent was not
    already withdrawn (so a webhook Twilio delivers twice announces it once); they are returned.
    """
    now = timezone.now()
    changed = []
    with transaction.atomic():
        for customer in customers_with_phone(number):
            before = (
                CustomerConsent.objects.select_for_update()
                .filter(customer=customer, channel=Channel.SMS)
                .values_list("granted", flat=True)
                .first()
            )
            CustomerConsent.objects.update_or_create(
                customer=customer,
                channel=Channel.SMS,
                defaults={"granted": False, "source": source, "recorded_at": now},
            )
            if before is not False:
                changed.append(customer)
                transaction.on_commit(partial(_announce, customer, source), robust=True)
    return changed


def _announce(customer: Customer, source: str) -> None:
    consent_withdrawn.send(sender=CustomerConsent, customer=customer, channel=Channel.SMS.value, source=source)
