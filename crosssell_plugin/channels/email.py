"""The email channel: HTML + plain-text follow-ups through Django's email framework.

Any ``EMAIL_BACKEND`` works (SMTP, console, django-anymail for a provider's API). A step's
template ``soft_upsell`` renders ``crosssell/email/soft_upsell.html`` and ``.txt``, which extend
``crosssell/email/base.html`` / ``base.txt``; override them (same paths) to restyle. Every
message carries ``List-Unsubscribe`` with the signed unsubscribe link and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), and a ``Message-ID`` derived
from the idempotency key, so a send retried after a crash has the same Message-ID.

:meth:`EmailChannel.build_test` builds the same email for a test send to a member of staff
(the admin's *send to me*): untracked links, an unsubscribe link that unsubscribes nobody, a
Message-ID of its own. :meth:`EmailChannel.send` reports the server's acceptance before it closes
the connection (see :mod:`crosssell_plugin.channels.base`).
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.crypto import salted_hmac

from ..absolute_urls import site_host
from ..models.followup import DEFAULT_CADENCE
from . import content
from .base import Accepted, Outgoing, PermanentSendError, SendResult, TransientSendError
from .unsubscribe import unsubscribe_url

if TYPE_CHECKING:
    from ..models import ScheduledMessage
    from ..recommend import Recommendation

try:  # django-anymail is optional
    from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
except ImportError:  # pragma: no cover - depends on the environment
    AnymailAPIError = AnymailRecipientsRefused = None

logger = logging.getLogger(__name__)

#: the subject of a step that leaves its own empty, per template
DEFAULT_SUBJECTS = {template: subject for _name, _delay, template, subject in DEFAULT_CADENCE}
FALLBACK_SUBJECT = "Picked for you at {{ store }}"
MESSAGE_ID_SALT = "crosssell.email.message-id"


def message_id(idempotency_key: str) -> str:
    """``<crosssell.<hash>@<site host>>``: the same for every attempt of one message, and across
    workers (the host is the site's, not the machine's). The hash is keyed with SECRET_KEY so the
    header does not disclose the customer, order and step ids of the key."""
    digest = salted_hmac(MESSAGE_ID_SALT, idempotency_key, algorithm="sha256").hexdigest()[:32]
    return f"<crosssell.{digest}@{site_host()}>"


class EmailChannel:
    """Builds a follow-up email (the step's templates, the unsubscribe headers, a stable
    Message-ID, the unsaved impressions in ``meta``) and sends it through ``EMAIL_BACKEND``."""

    name = "email"

    def build(self, message: ScheduledMessage, recommendations: list[Recommendation]) -> Outgoing:
        customer = message.customer
        if not customer.email:
            raise PermanentSendError(f"Customer {customer.pk} has no email address.")
        shown, impressions = content.plan(message, recommendations, placement="email")
        return self._outgoing(
            message,
            content.entries(shown, impressions),
            to=customer.email,
            unsubscribe=unsubscribe_url(customer),
            message_id_header=message_id(message.idempotency_key),
            meta={"impressions": impressions, "store": message.store_id, "customer": customer.pk},
        )

    def build_test(
        self, message: ScheduledMessage, recommendations: list[Recommendation], to: str, unsubscribe: str
    ) -> Outgoing:
        """The email of ``message`` as its customer would get it, addressed to ``to`` instead (a
        test send to a member of staff) and harmless to the customer and the measurements.

        Same subject, text and HTML, except: the recommendations link straight to their items (a
        tracked link would record a click and an impression), the unsubscribe link and
        ``List-Unsubscribe`` are ``unsubscribe`` (the customer's own would unsubscribe them), the
        Message-ID is new on every test (a provider that deduplicates on Message-ID would otherwise
        drop the customer's real message later), ``X-Crosssell-Test`` says what it is, and no
        impression is planned (``meta["impressions"]`` is empty).
        """
        shown, impressions = content.plan(message, recommendations, placement="email")
        return self._outgoing(
            message,
            content.entries(shown, impressions, link=content.item_link),
            to=to,
            unsubscribe=unsubscribe,
            message_id_header=message_id(f"test:{message.idempotency_key}:{uuid.uuid4().hex}"),
            meta={"impressions": [], "store": message.store_id, "test": True},
            extra_headers={"X-Crosssell-Test": f"step {message.step_id}, order {message.order_id or 'sample'}"},
        )

    def _outgoing(
        self,
        message: ScheduledMessage,
        entries: list[content.Entry],
        *,
        to: str,
        unsubscribe: str,
        message_id_header: str,
        meta: dict[str, Any],
        extra_headers: dict[str, str] | None = None,
    ) -> Outgoing:
        step = message.step
        context = {**content.base_context(message), "recommendations": entries, "unsubscribe_url": unsubscribe}
        subject = self._subject(message, context)
        context["subject"] = subject
        return Outgoing(
            channel=self.name,
            to=to,
            idempotency_key=message.idempotency_key,
            subject=subject,
            body=content.tidy_text(content.render(content.template_name("email", step, "txt"), context)),
            html=content.render(content.template_name("email", step, "html"), context),
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Message-ID": message_id_header,
                **(extra_headers or {}),
            },
            meta=meta,
        )

    @staticmethod
    def _subject(message: ScheduledMessage, context: dict[str, Any]) -> str:
        step = message.step
        source = step.subject or DEFAULT_SUBJECTS.get(step.template, FALLBACK_SUBJECT)
        rendered = content.render_string(source, context, what=f"subject of step {step.pk}")
        return " ".join(rendered.split())  # one line: a header cannot hold a newline

    #: ``send`` calls ``accepted`` once the backend accepted the message (channels.base)
    reports_acceptance = True

    def send(self, outgoing: Outgoing, accepted: Accepted | None = None) -> SendResult:
        """Send ``outgoing`` through ``EMAIL_BACKEND`` on a connection of its own.

        ``accepted(result)`` is called as soon as the backend has accepted the message (SMTP: the
        server answered 250 to DATA), before the connection is closed (QUIT). An error while
        closing is logged, never raised: the message was accepted, so it is not failed or sent
        again. Errors of the send itself raise TransientSendError or PermanentSendError (any other
        exception, a bug, as it is); an exception of ``accepted`` is raised as it is.
        """
        email = _email(outgoing)
        backend = get_connection(fail_silently=False)
        result: SendResult | None = None
        try:
            try:
                backend.open()
                backend.send_messages([email])
            except Exception as err:
                mapped = _send_error(err)
                if mapped is None:
                    raise
                raise mapped from err
            result = SendResult(provider_message_id=_provider_id(email) or outgoing.headers.get("Message-ID", ""))
            if accepted is not None:
                accepted(result)
            return result
        finally:
            _close(backend, outgoing, sent=result is not None)


def _email(outgoing: Outgoing) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=outgoing.subject,
        body=outgoing.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[outgoing.to],
        headers=outgoing.headers,
    )
    if outgoing.html:
        email.attach_alternative(outgoing.html, "text/html")
    return email


def _close(backend: Any, outgoing: Outgoing, sent: bool) -> None:
    """Close the backend's connection (SMTP: QUIT); an error is logged, never raised."""
    try:
        backend.close()
    except Exception as err:
        what = "after the server accepted it; it counts as sent" if sent else "after a failed send"
        logger.warning(
            "Closing the mail connection of email %s failed %s: %s: %s",
            outgoing.headers.get("Message-ID", ""),
            what,
            type(err).__name__,
            err,
        )


def _provider_id(email: EmailMultiAlternatives) -> str:
    """The provider's message id that django-anymail reports, if the backend is anymail's."""
    status = getattr(email, "anymail_status", None)
    found = getattr(status, "message_id", None)
    if isinstance(found, str):
        return found
    if isinstance(found, set | frozenset) and found:  # several ids for several recipients
        return ",".join(sorted(str(i) for i in found))
    return ""


def _send_error(err: Exception) -> TransientSendError | PermanentSendError | None:
    """The SendError an exception of the email backend means; None for any other exception."""
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _text in err.recipients.values()})
        text = f"The mail server refused the recipient (SMTP {', '.join(map(str, codes))})."
        # 4xx on RCPT is "try later" (greylisting, a full mailbox); any 5xx is final.
        return TransientSendError(text) if codes and all(400 <= c < 500 for c in codes) else PermanentSendError(text)
    if isinstance(err, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return TransientSendError(f"The mail server could not be reached: {type(err).__name__}.")
    if isinstance(err, smtplib.SMTPAuthenticationError):
        # A settings problem, not this message's: retried, so fixed credentials still deliver it.
        return TransientSendError(f"The mail server refused the login (SMTP {err.smtp_code}); check EMAIL_HOST_*.")
    if isinstance(err, smtplib.SMTPResponseException):
        text = f"The mail server answered SMTP {err.smtp_code}: {_text(err.smtp_error)}"
        return PermanentSendError(text) if 500 <= err.smtp_code < 600 else TransientSendError(text)
    if isinstance(err, smtplib.SMTPException | OSError):  # timeouts, refused or reset connections
        return TransientSendError(f"Sending the email failed: {type(err).__name__}: {err}")
    if AnymailRecipientsRefused is not None and isinstance(err, AnymailRecipientsRefused):
        return PermanentSendError(f"The email provider refused the recipient: {err}")
    if AnymailAPIError is not None and isinstance(err, AnymailAPIError):
        status = getattr(err, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and status not in (408, 429):
            return PermanentSendError(f"The email provider refused the message (HTTP {status}).")
        return TransientSendError(f"The email provider is unavailable (HTTP {status}).")
    return None


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]
