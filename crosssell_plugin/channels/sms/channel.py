"""The SMS channel: phone-number validation, the backend chosen in settings, and two backends.

Settings, all optional (``CROSSSELL["SMS"]``)::

    CROSSSELL = {
        "SMS": {
            "BACKEND": "crosssell_plugin.channels.sms.TwilioSmsBackend",  # default: ConsoleSmsBackend
            "FROM": "+15005550006",       # the sender number (E.164)
            "ACCOUNT_SID": "AC...",       # Twilio Account SID (HTTP basic auth user)
            "AUTH_TOKEN": "...",          # Twilio Auth Token (basic auth password, webhook signing key)
            "BASE_URL": "https://api.twilio.com",
            "TIMEOUT_SECONDS": 10,
        }
    }

:class:`ConsoleSmsBackend` prints each message (development); :class:`TwilioSmsBackend` sends it
through Twilio's Messages API, or any Twilio-compatible API at ``BASE_URL``. Inbound STOP
replies are handled by :mod:`crosssell_plugin.channels.sms.inbound`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TextIO

import requests
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ...conf import SMS_DEFAULTS, crosssell_settings
from ...events import Channel
from ...surfaces import serve
from .. import content
from ..base import ChannelBackend, Outgoing, PermanentSendError, SendResult, TransientSendError

if TYPE_CHECKING:
    from ...models import Customer, ScheduledMessage
    from ...recommend import Recommendation

logger = logging.getLogger(__name__)

#: Characters people put inside phone numbers, removed before validation. ``sms_inbound`` builds
#: its database filter from the same set, so both agree on which numbers are equal.
SEPARATORS = " \t\r\n\u00a0-.()"
_SEPARATOR_RE = re.compile("[" + re.escape(SEPARATORS) + "]")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
#: Twilio's error code for a recipient who replied STOP (https://www.twilio.com/docs/api/errors/21610).
TWILIO_OPTED_OUT = 21610
_DELAY_SECONDS = re.compile("[0-9]+")
#: the longest SMS the channel builds (three concatenated GSM-7 segments hold 459; two Unicode ones 134)
MAX_SMS_LENGTH = 320
#: how many recommendations an SMS shows at most (fewer when they do not fit)
SMS_RECOMMENDATIONS = 2
#: a title is not shortened below this many characters to make an SMS fit
MIN_TITLE_LENGTH = 12


def normalize_e164(raw: str) -> str:
    """``raw`` as an E.164 number (``+`` then 2 to 15 digits, the first not 0), else ``ValueError``.

    Spaces, dashes, dots and parentheses are removed first: ``"+1 (415) 555-0100"`` gives
    ``"+14155550100"``. No national formats: a number without its ``+`` and country code is rejected.
    """
    if not isinstance(raw, str):
        raise ValueError(f"A phone number must be a string, got {type(raw).__name__}.")
    compact = _SEPARATOR_RE.sub("", raw)
    if _E164.fullmatch(compact):
        return compact
    raise ValueError(f"{raw!r} is not an E.164 phone number: {_problem(compact)}.")


def _problem(compact: str) -> str:
    if not compact:
        return "it is empty"
    if not compact.startswith("+"):
        return "it must start with + and the country code, as in +14155550100"
    digits = compact[1:]
    other = dict.fromkeys(char for char in digits if char not in "0123456789")
    if other:
        return f"it may only hold digits after the +, found {''.join(other)!r}"
    if digits.startswith("0"):
        return "a country code never starts with 0"
    return f"it has {len(digits)} digit{'' if len(digits) == 1 else 's'} after the +; E.164 allows 2 to 15"


def sms_options() -> dict[str, Any]:
    """``CROSSSELL["SMS"]`` merged over its defaults."""
    configured = crosssell_settings.SMS
    if not isinstance(configured, Mapping):
        raise ImproperlyConfigured(f'CROSSSELL["SMS"] must be a dict, got {type(configured).__name__}.')
    return {**SMS_DEFAULTS, **configured}


def get_sms_backend(**kwargs: Any) -> ChannelBackend:
    """A new instance of ``CROSSSELL["SMS"]["BACKEND"]``; ``kwargs`` go to its constructor."""
    path = sms_options()["BACKEND"]
    try:
        backend_class = import_string(path)
    except ImportError as err:
        raise ImproperlyConfigured(
            f'CROSSSELL["SMS"]["BACKEND"] is {path!r}, which cannot be imported ({err}). Use a dotted path '
            'such as "crosssell_plugin.channels.sms.TwilioSmsBackend".'
        ) from err
    return backend_class(**kwargs)


def _recipient(message: Outgoing) -> str:
    if message.channel != Channel.SMS:
        raise ValueError(f"An SMS backend cannot send a {message.channel!r} message.")
    try:
        return normalize_e164(message.to)
    except ValueError as err:
        raise PermanentSendError(str(err)) from err


class ConsoleSmsBackend:
    """Writes each message to a stream (standard output by default) instead of sending it.

    For development, like Django's console email backend. The message id is derived from the
    idempotency key, so a retried send reports the same id.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.sender = str(sms_options()["FROM"])
        self._lock = threading.Lock()

    def send(self, message: Outgoing) -> SendResult:
        to = _recipient(message)
        text = (
            f"SMS to: {to}\nFrom: {self.sender}\nIdempotency-Key: {message.idempotency_key}\n\n"
            f"{message.body}\n{'-' * 79}\n"
        )
        with self._lock:
            self.stream.write(text)
            self.stream.flush()
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()
        return SendResult(provider_message_id=f"console-{digest[:32]}")


class TwilioSmsBackend:
    """Sends through Twilio's Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``).

    Outcomes: a 2xx gives the message ``sid``; a 429, a 5xx, a timeout or a connection error raise
    :class:`TransientSendError` (with Twilio's ``Retry-After`` when it sends one); error 21610
    (the recipient replied STOP) raises :class:`PermanentSendError` with ``opted_out=True``; any
    other 4xx raises :class:`PermanentSendError` with Twilio's message and error code. The Auth
    Token is never logged nor put in an exception message.

    Duplicates: Twilio documents no idempotency key for creating a message. Its own docs (error
    20500) warn that retrying a message create after a 5xx may deliver the message twice, and say a
    429 is never processed (always safe to retry). We still send the idempotency key in an
    ``I-Twilio-Idempotency-Token`` header, but as far as we could find Twilio documents that
    header only on the webhook requests *it* sends (so receivers can spot Twilio's own retries),
    not as something its REST API honours on our requests. Treat the header as a trace that
    appears in logs, not as protection: a retry after a timeout or a 5xx can deliver twice.
    """

    def __init__(self) -> None:
        options = sms_options()
        for key in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM"):
            if not isinstance(options[key], str) or not options[key].strip():
                raise ImproperlyConfigured(
                    f'TwilioSmsBackend needs CROSSSELL["SMS"]["{key}"]; it is missing or empty. '
                    "Find the Account SID and Auth Token in the Twilio console; FROM is your Twilio number."
                )
        base_url = str(options["BASE_URL"]).rstrip("/")
        if not base_url.startswith(("https://", "http://")):
            raise ImproperlyConfigured(
                f'CROSSSELL["SMS"]["BASE_URL"] must be an http(s) URL such as "https://api.twilio.com", '
                f"got {base_url!r}."
            )
        timeout = options["TIMEOUT_SECONDS"]
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ImproperlyConfigured(
                f'CROSSSELL["SMS"]["TIMEOUT_SECONDS"] must be a positive number of seconds, got {timeout!r}.'
            )
        self.account_sid: str = options["ACCOUNT_SID"].strip()
        self._auth_token: str = options["AUTH_TOKEN"].strip()
        self.sender: str = options["FROM"].strip()
        self.timeout: float = timeout
        self.url = f"{base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def __repr__(self) -> str:
        return f"<TwilioSmsBackend account={self.account_sid} from={self.sender}>"

    def send(self, message: Outgoing) -> SendResult:
        to = _recipient(message)
        try:
            response = requests.post(
                self.url,
                data={"To": to, "From": self.sender, "Body": message.body},
                auth=(self.account_sid, self._auth_token),
                headers={"I-Twilio-Idempotency-Token": message.idempotency_key, "Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as err:
            # Timeouts, refused or reset connections, TLS failures: Twilio may or may not have the message.
            logger.warning("Twilio could not be reached (%s); the SMS will be retried", type(err).__name__)
            raise TransientSendError(f"Twilio could not be reached: {self._redact(str(err))}") from err
        return self._result(response)

    def _result(self, response: requests.Response) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            sid = self._json(response).get("sid")
            if not isinstance(sid, str) or not sid:
                logger.warning("Twilio accepted an SMS (HTTP %s) but its answer carries no message sid", status)
                return SendResult()
            return SendResult(provider_message_id=sid)
        error = self._describe(response)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            logger.warning("Twilio answered HTTP %s; the SMS will be retried (Retry-After %s)", status, retry_after)
            raise TransientSendError(f"Twilio is unavailable: {error}", retry_after=retry_after)
        code = self._json(response).get("code")
        logger.warning("Twilio refused an SMS: HTTP %s, error code %s", status, code)
        raise PermanentSendError(f"Twilio refused the message: {error}", opted_out=code == TWILIO_OPTED_OUT)

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            return {}
        return payload if isinstance(payload, dict) else {}

    def _describe(self, response: requests.Response) -> str:
        payload = self._json(response)
        text = f"HTTP {response.status_code}"
        if payload.get("code") is not None:
            text += f", error {payload['code']}"
        detail = payload.get("message") or response.text[:200].strip()
        if detail:
            text += f": {detail}"
        if payload.get("more_info"):
            text += f" (see {payload['more_info']})"
        return self._redact(text)

    def _redact(self, text: str) -> str:
        return text.replace(self._auth_token, "[auth token]")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class SmsChannel:
    """Builds a short follow-up SMS (store, one or two recommendations with short tracked links,
    the offer code, "Reply STOP to opt out.") from ``crosssell/sms/<step.template>.txt`` and sends
    it through :func:`get_sms_backend`. The links (``/crosssell/s/<code>/``, see
    :mod:`crosssell_plugin.short_links`) work once the impressions in ``meta`` are saved."""

    name = "sms"

    def build(self, message: ScheduledMessage, recommendations: Sequence[Recommendation]) -> Outgoing:
        to = phone_of(message.customer)
        shown, impressions = content.plan(message, recommendations[:SMS_RECOMMENDATIONS], placement="sms")
        name = content.template_name("sms", message.step, "txt")
        entries = content.entries(shown, impressions, link=serve.short_link)
        body, count = fit_sms(name, content.base_context(message), entries)
        return Outgoing(
            channel=self.name,
            to=to,
            idempotency_key=message.idempotency_key,
            body=body,
            meta={"impressions": impressions[:count], "store": message.store_id, "customer": message.customer_id},
        )

    def send(self, outgoing: Outgoing) -> SendResult:
        return get_sms_backend().send(outgoing)


def phone_of(customer: Customer) -> str:
    """The customer's phone in E.164; PermanentSendError when there is none or it is unusable."""
    if not customer.phone.strip():
        raise PermanentSendError(f"Customer {customer.pk} has no phone number.")
    try:
        return normalize_e164(customer.phone)
    except ValueError as err:
        raise PermanentSendError(f"Customer {customer.pk} has an unusable phone number: {err}") from err


def fit_sms(name: str, context: dict[str, Any], entries: list[content.Entry]) -> tuple[str, int]:
    """The SMS text of template ``name`` and how many of ``entries`` it shows: as many as fit in
    :data:`MAX_SMS_LENGTH`, then the first one with a shortened title; PermanentSendError if even
    that is too long (a template or store name too long for an SMS)."""

    def render(shown: list[content.Entry]) -> str:
        return content.tidy_text(content.render(name, {**context, "recommendations": shown})).strip()

    body = render(entries)
    if len(body) <= MAX_SMS_LENGTH:
        return body, len(entries)
    for count in range(len(entries) - 1, 0, -1):
        body = render(entries[:count])
        if len(body) <= MAX_SMS_LENGTH:
            return body, count
    if entries:
        # here ``body`` is the text showing the first entry alone
        title = entries[0].title
        keep = len(title) - (len(body) - MAX_SMS_LENGTH) - 3
        if keep >= MIN_TITLE_LENGTH:
            body = render([replace(entries[0], title=title[:keep].rstrip() + "...")])
            if len(body) <= MAX_SMS_LENGTH:
                return body, 1
    elif len(body) <= MAX_SMS_LENGTH:
        return body, 0
    raise PermanentSendError(
        f"The SMS of {name} has {len(body)} characters even with one shortened recommendation; "
        f"at most {MAX_SMS_LENGTH} fit. Shorten the template."
    )
