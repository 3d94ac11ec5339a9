"""One interface for every follow-up channel: a backend takes an :class:`Outgoing` message and
sends it, or raises :class:`TransientSendError` (try again later) or :class:`PermanentSendError`
(never retry: a bad address, a recipient who opted out at the provider).

A backend must be safe to call again with the same ``idempotency_key`` after a crash: it passes
the key to the provider where the provider supports one, so a retried send is not delivered twice.

**Acceptance.** A channel whose send ends after the provider accepted the message (an SMTP
connection closed with ``QUIT`` after the ``250`` to ``DATA``) sets ``reports_acceptance = True``
and takes ``send(outgoing, accepted=callback)``: it calls ``accepted(result)`` once, as soon as
the provider accepted the message and before it lets go of the connection, so the caller records
the send before anything that can still fail or hang; what fails after that point is logged, never
raised (the message went out). The dispatcher records the ``sent`` row in that callback. Other
channels (an HTTP call, a row of our own) are recorded when ``send`` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    """A rendered follow-up, ready for one channel."""

    #: email | sms | in_app
    channel: str
    #: the address on that channel: an email address, an E.164 phone number, a customer pk
    to: str
    #: stable per customer + order + step; the same on every attempt
    idempotency_key: str
    #: plain text (an SMS body, the text part of an email)
    body: str
    subject: str = ""
    #: the HTML part of an email
    html: str = ""
    #: extra headers (List-Unsubscribe...)
    headers: dict[str, str] = field(default_factory=dict)
    #: anything the channel needs besides (store pk, customer pk, click links...)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    #: the provider's id for the message ("SM..." for Twilio, the Message-ID of an email)
    provider_message_id: str = ""


#: ``accepted(result)``: called by a channel that reports acceptance (module docstring)
Accepted = Callable[[SendResult], None]


class SendError(Exception):
    """A send that did not happen."""


class TransientSendError(SendError):
    """Worth retrying: a timeout, a 5xx, a 429. ``retry_after`` is the provider's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Never worth retrying: an invalid address, a recipient who opted out at the provider.

    ``opted_out`` is True when the provider says the recipient has unsubscribed (SMS STOP).
    """

    def __init__(self, message: str, opted_out: bool = False) -> None:
        super().__init__(message)
        self.opted_out = opted_out


class ChannelBackend(Protocol):
    """What every channel backend does."""

    def send(self, message: Outgoing) -> SendResult: ...
