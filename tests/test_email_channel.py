"""The email and SMS channels, their links and the unsubscribe page, on a real database.

Messages are built for real ScheduledMessage rows of a real store (catalog and orders recorded
through ``ingest``); emails go through Django's locmem backend, or a small backend defined here
that raises what ``smtplib`` raises (the third-party boundary). Nothing of ours is mocked.
"""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from crosssell_plugin.channels import PermanentSendError, TransientSendError, get_channel
from crosssell_plugin.channels.email import EmailChannel, message_id
from crosssell_plugin.channels.sms import MAX_SMS_LENGTH, SmsChannel
from crosssell_plugin.models import (
    Click,
    Customer,
    CustomerConsent,
    Item,
    Order,
    Path,
    ScheduledMessage,
    Step,
    Store,
)
from crosssell_plugin.recommend import Recommendation, for_order
from crosssell_plugin.signals import consent_withdrawn
from crosssell_plugin.tracking import save_impressions
from crosssell_plugin.training import train_store
from crosssell_plugin.unsubscribe import customer_of, unsubscribe_token, unsubscribe_url

from .conftest import STORE_REF
from .test_recommend import add_catalog, buy, seed_history

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.test"
HOSTILE = "<script>alert(1)</script>"
#: the body of an RFC 8058 one-click unsubscribe POST
ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def site(settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "SITE_URL": SITE}
    settings.DEFAULT_FROM_EMAIL = "shop@example.test"


@pytest.fixture
def order(store: Store) -> Order:
    add_catalog(store)
    Item.objects.for_store(store).filter(external_id="dune").update(
        url="/films/dune/", image_url="/media/dune.jpg", price=Decimal("12.50")
    )
    Item.objects.for_store(store).filter(external_id="arrival").update(
        url="https://cdn.example.test/arrival", image_url="https://cdn.example.test/arrival.jpg"
    )
    placed = buy(STORE_REF, "o-1", "ann@example.com", ["inception"], 0)
    Customer.objects.filter(pk=placed.customer_id).update(first_name="Ann", phone="+44 20 7946 0958")
    return Order.objects.select_related("store", "customer").get(pk=placed.pk)


def scheduled(order: Order, template: str = "soft_upsell", **step_fields: Any) -> ScheduledMessage:
    path, _ = Path.objects.get_or_create(store=order.store, name="After a purchase")
    step = Step.objects.create(
        path=path,
        position=path.steps.count() + 1,
        name=template,
        delay=timedelta(hours=1),
        template=template,
        **step_fields,
    )
    return ScheduledMessage.objects.select_related("store", "customer", "order", "step").get(
        pk=ScheduledMessage.objects.create(
            store=order.store,
            customer=order.customer,
            order=order,
            path=path,
            step=step,
            idempotency_key=f"{order.customer_id}:{order.pk}:{step.pk}",
            channel=step.channel,
            due_at=timezone.now(),
        ).pk
    )


def recs(store: Store, *external_ids: str) -> list[Recommendation]:
    items = {i.external_id: i for i in Item.objects.for_store(store).filter(external_id__in=external_ids)}
    return [
        Recommendation(
            item=items[e],
            score=1.0 - n / 10,
            reasons=[],
            reason_texts=[f"Bought together with Inception by {n + 3} customers"],
            task="post_purchase",
        )
        for n, e in enumerate(external_ids)
    ]


def links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def path_of(url: str) -> str:
    assert url.startswith(SITE + "/"), url
    return url[len(SITE) :]


# --- the email's content ----------------------------------------------------------------------


def test_html_and_text_parts_show_the_recommendations_offer_and_store(order: Order) -> None:
    message = scheduled(
        order, offer_code="THANKS10", offer_percent=Decimal("10.00"), subject="{{ first_name }}, for you"
    )
    outgoing = get_channel("email").build(message, recs(order.store, "dune", "arrival"))

    assert (outgoing.channel, outgoing.to, outgoing.subject) == ("email", "ann@example.com", "Ann, for you")
    for part in (outgoing.html, outgoing.body):
        assert "Dune" in part and "Arrival" in part
        assert "€12.50" in part and "€9.99" in part  # each in the item's currency
        assert "Bought together with Inception by 3 customers" in part
        assert "THANKS10" in part and "10% off" in part
        assert "Test store" in part and "Hi Ann," in part
    html_links = links(outgoing.html)
    clicks = [url for url in html_links if "/crosssell/r/" in url]
    assert len(set(clicks)) == 2 and all(url.startswith(SITE + "/crosssell/r/") for url in clicks)
    assert {url for url in clicks} <= set(re.findall(r"https://\S+", outgoing.body))
    assert f'src="{SITE}/media/dune.jpg"' in outgoing.html and 'alt="Dune"' in outgoing.html
    assert 'src="https://cdn.example.test/arrival.jpg"' in outgoing.html


def test_html_is_email_safe_and_text_is_plain(order: Order) -> None:
    outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    html = outgoing.html.lower()
    assert "<script" not in html and "<style" not in html and "<link" not in html and "javascript:" not in html
    assert 'role="presentation"' in html and 'width="600"' in html
    assert re.search(r"<img [^>]*width=\"120\"[^>]*alt=\"dune\"", html)
    assert not re.search(r"<[a-z/!][^>]*>", outgoing.body)  # no tag in the text part
    assert "&amp;" not in outgoing.body and "\n\n\n" not in outgoing.body


def test_hostile_titles_and_names_are_escaped_in_html_and_verbatim_in_text(order: Order) -> None:
    Item.objects.for_store(order.store).filter(external_id="dune").update(title=HOSTILE + " & Co")
    Customer.objects.filter(pk=order.customer_id).update(first_name='"><img src=x onerror=alert(1)>')
    message = scheduled(order)
    rec = recs(order.store, "dune")[0]
    hostile = Recommendation(**{**rec.__dict__, "reason_texts": [HOSTILE]})

    outgoing = EmailChannel().build(message, [hostile])

    assert "<script>" not in outgoing.html and "<img src=x" not in outgoing.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in outgoing.html
    assert f"{HOSTILE} & Co" in outgoing.body  # plain text is not HTML: shown as typed, not escaped


def test_default_subjects_per_template_and_the_store_in_a_custom_one(order: Order) -> None:
    subjects = {t: EmailChannel().build(scheduled(order, t), []).subject for t in ("soft_upsell", "bundle", "loyalty")}
    assert subjects == {
        "soft_upsell": "Picked for you after your order",
        "bundle": "Complete your collection",
        "loyalty": "Something new for you",
    }
    custom = scheduled(order, "bundle", subject="News from {{ store }}\nfor {{ first_name }}")
    assert EmailChannel().build(custom, []).subject == "News from Test store for Ann"


def test_each_template_renders_its_own_heading(order: Order) -> None:
    headings = {"soft_upsell": "Picked for you", "bundle": "Complete your collection", "loyalty": "Something new"}
    for template, heading in headings.items():
        outgoing = EmailChannel().build(scheduled(order, template), recs(order.store, "dune"))
        assert heading in outgoing.html and heading in outgoing.body


@pytest.mark.parametrize("template", ["../../settings", "nope"])
def test_a_bad_or_missing_template_is_a_permanent_error(order: Order, template: str) -> None:
    with pytest.raises(PermanentSendError, match="template"):
        EmailChannel().build(scheduled(order, template), recs(order.store, "dune"))


def test_the_steps_limit_caps_the_recommendations(order: Order) -> None:
    outgoing = EmailChannel().build(scheduled(order, limit=1), recs(order.store, "dune", "arrival"))
    assert "Dune" in outgoing.html and "Arrival" not in outgoing.html
    assert len(outgoing.meta["impressions"]) == 1


def test_impressions_are_planned_for_the_email_and_its_links_follow_them(order: Order, client: Client) -> None:
    message = scheduled(order)
    outgoing = EmailChannel().build(message, recs(order.store, "dune", "arrival"))
    impressions = outgoing.meta["impressions"]

    assert [i.item.external_id for i in impressions] == ["dune", "arrival"]
    assert all(i.pk is None and i.key for i in impressions)
    assert {(i.placement, i.order_id, i.customer_id, i.store_id) for i in impressions} == {
        ("email", order.pk, order.customer_id, order.store_id)
    }
    first_click = next(url for url in links(outgoing.html) if "/crosssell/r/" in url)
    response = client.get(path_of(first_click))
    assert response.status_code == 302 and response["Location"] == "/films/dune/"


def test_an_email_of_a_trained_stores_real_recommendations(order: Order, isolated_models: None) -> None:
    seed_history(STORE_REF)
    assert train_store(order.store).status == "active"
    found = for_order(order, limit=3, placement="email")
    assert found

    outgoing = EmailChannel().build(scheduled(order), found)

    for rec in found:
        assert rec.item.title in outgoing.body and rec.reason_texts[0] in outgoing.body
        assert escape(rec.item.title) in outgoing.html and escape(rec.reason_texts[0]) in outgoing.html
    assert [i.item_id for i in outgoing.meta["impressions"]] == [r.item.pk for r in found]


# --- headers -----------------------------------------------------------------------------------


def test_list_unsubscribe_headers_are_rfc_8058_shaped(order: Order) -> None:
    outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    assert re.fullmatch(rf"<{re.escape(SITE)}/crosssell/u/[^>\s]+/>", outgoing.headers["List-Unsubscribe"])
    assert outgoing.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert outgoing.headers["List-Unsubscribe"][1:-1] in outgoing.html
    assert outgoing.headers["List-Unsubscribe"][1:-1] in outgoing.body

    EmailChannel().send(outgoing)
    sent = message_from_bytes(mail.outbox[0].message().as_bytes())
    # a long header may be folded before the URL (RFC 5322 2.2.3); unfolded, it is the same
    assert "".join(sent["List-Unsubscribe"].split()) == outgoing.headers["List-Unsubscribe"]
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_message_id_is_stable_per_idempotency_key_and_hides_it(order: Order) -> None:
    message = scheduled(order)
    first = EmailChannel().build(message, recs(order.store, "dune")).headers["Message-ID"]
    again = EmailChannel().build(message, recs(order.store, "arrival")).headers["Message-ID"]
    other = EmailChannel().build(scheduled(order, "bundle"), recs(order.store, "dune")).headers["Message-ID"]

    assert first == again == message_id(message.idempotency_key) != other
    assert re.fullmatch(r"<crosssell\.[0-9a-f]{32}@shop\.example\.test>", first)
    assert message.idempotency_key not in first


def test_send_goes_through_the_email_backend_with_both_parts_and_our_message_id(order: Order) -> None:
    outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    result = EmailChannel().send(outgoing)

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert (sent.to, sent.from_email, sent.subject) == (["ann@example.com"], "shop@example.test", outgoing.subject)
    assert sent.alternatives[0][1] == "text/html" and sent.body == outgoing.body
    parsed = message_from_bytes(sent.message().as_bytes())
    assert "".join(parsed["Message-ID"].split()) == outgoing.headers["Message-ID"] == result.provider_message_id


# --- send errors, through a backend that raises what smtplib raises ------------------------------


class RaisingBackend(BaseEmailBackend):
    error: Exception | None = None
    status: Any = None

    def send_messages(self, email_messages: Any) -> int:
        if self.error is not None:
            raise self.error
        for message in email_messages:
            message.anymail_status = self.status
        return len(email_messages)


@pytest.fixture
def raising(settings: Any, monkeypatch: pytest.MonkeyPatch) -> type[RaisingBackend]:
    settings.EMAIL_BACKEND = f"{__name__}.RaisingBackend"
    monkeypatch.setattr(RaisingBackend, "error", None)
    monkeypatch.setattr(RaisingBackend, "status", None)
    return RaisingBackend


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), TransientSendError),
        (smtplib.SMTPConnectError(421, b"Service not available"), TransientSendError),
        (TimeoutError("timed out"), TransientSendError),
        (ConnectionRefusedError(111, "Connection refused"), TransientSendError),
        (smtplib.SMTPDataError(451, b"Requested action aborted: local error"), TransientSendError),
        (smtplib.SMTPSenderRefused(421, b"Try again later", "shop@example.test"), TransientSendError),
        (smtplib.SMTPRecipientsRefused({"ann@example.com": (450, b"Greylisted")}), TransientSendError),
        (smtplib.SMTPAuthenticationError(535, b"Bad credentials"), TransientSendError),
        (smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"No such user")}), PermanentSendError),
        (smtplib.SMTPDataError(554, b"Message rejected as spam"), PermanentSendError),
        (smtplib.SMTPSenderRefused(553, b"Sender not allowed", "shop@example.test"), PermanentSendError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_backend_errors_map_to_transient_or_permanent(
    order: Order, raising: type[RaisingBackend], error: Exception, expected: type[Exception]
) -> None:
    outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    raising.error = error
    with pytest.raises(expected) as caught:
        EmailChannel().send(outgoing)
    assert caught.value.__cause__ is error
    assert not isinstance(caught.value, TransientSendError if expected is PermanentSendError else PermanentSendError)


def test_any_other_backend_error_is_not_swallowed(order: Order, raising: type[RaisingBackend]) -> None:
    outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    raising.error = RuntimeError("a bug in the backend")
    with pytest.raises(RuntimeError, match="a bug in the backend"):
        EmailChannel().send(outgoing)


def test_the_providers_message_id_wins_when_the_backend_reports_one(order: Order, raising: Any) -> None:
    outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    raising.status = SimpleNamespace(message_id="provider-42", status={"queued"})
    assert EmailChannel().send(outgoing).provider_message_id == "provider-42"


def test_a_customer_without_email_gets_a_permanent_error(order: Order) -> None:
    Customer.objects.filter(pk=order.customer_id).update(email="")
    with pytest.raises(PermanentSendError, match="no email address"):
        EmailChannel().build(scheduled(order), recs(order.store, "dune"))


def test_links_fall_back_to_the_current_site_without_a_setting(order: Order, settings: Any) -> None:
    from django.contrib.sites.models import Site

    settings.CROSSSELL = {key: value for key, value in settings.CROSSSELL.items() if key != "SITE_URL"}
    Site.objects.filter(pk=settings.SITE_ID).update(domain="films.example.org")
    Site.objects.clear_cache()
    try:
        outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    finally:
        Site.objects.clear_cache()
    assert outgoing.headers["List-Unsubscribe"].startswith("<https://films.example.org/crosssell/u/")
    assert outgoing.headers["Message-ID"].endswith("@films.example.org>")
    assert "https://films.example.org/crosssell/r/" in outgoing.html


# --- unsubscribe ---------------------------------------------------------------------------------


@pytest.fixture
def consents(order: Order) -> list[CustomerConsent]:
    earlier = timezone.now() - timedelta(days=30)
    return [
        CustomerConsent.objects.create(
            customer=order.customer, channel=channel, granted=True, source="checkout", recorded_at=earlier
        )
        for channel in ("email", "sms", "in_app")
    ]


@pytest.fixture
def withdrawn(order: Order) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    consent_withdrawn.connect(receiver, dispatch_uid="test-unsubscribe")
    yield received
    consent_withdrawn.disconnect(dispatch_uid="test-unsubscribe")


def test_the_emails_unsubscribe_link_asks_then_unsubscribes_on_post(
    order: Order, consents: Any, withdrawn: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    outgoing = EmailChannel().build(scheduled(order), recs(order.store, "dune"))
    link = next(url for url in links(outgoing.html) if "/crosssell/u/" in url)
    client = Client(enforce_csrf_checks=True)

    page = client.get(path_of(link))
    assert page.status_code == 200 and b'method="post"' in page.content and b"Test store" in page.content
    assert Customer.objects.get(pk=order.customer_id).unsubscribed_at is None  # GET changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(path_of(link))
    assert done.status_code == 200 and b"You are unsubscribed" in done.content

    customer = Customer.objects.get(pk=order.customer_id)
    assert customer.unsubscribed_at is not None
    assert not customer.has_marketing_consent("email") and not customer.has_marketing_consent("sms")
    rows = CustomerConsent.objects.filter(customer=customer)
    assert {(c.channel, c.granted, c.source) for c in rows} == {
        (channel, False, "unsubscribe link") for channel in ("email", "sms", "in_app")
    }
    assert all(c.recorded_at >= customer.unsubscribed_at for c in rows)
    assert [(w["customer"].pk, w["channel"], w["source"]) for w in withdrawn] == [
        (customer.pk, "all", "unsubscribe link")
    ]


def test_one_click_post_from_a_mail_provider_unsubscribes_once(
    order: Order, consents: Any, withdrawn: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    url = EmailChannel().build(scheduled(order), []).headers["List-Unsubscribe"][1:-1]
    client = Client(enforce_csrf_checks=True)  # no cookie, no CSRF token: as a provider posts

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(path_of(url), ONE_CLICK, content_type=FORM)
    when = Customer.objects.get(pk=order.customer_id).unsubscribed_at
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = client.post(path_of(url), ONE_CLICK, content_type=FORM)

    assert first.status_code == second.status_code == 200
    assert Customer.objects.get(pk=order.customer_id).unsubscribed_at == when
    assert set(CustomerConsent.objects.values_list("source", flat=True)) == {"one-click unsubscribe"}
    assert callbacks == [] and len(withdrawn) == 1 and withdrawn[0]["source"] == "one-click unsubscribe"
    assert b"You are unsubscribed" in client.get(path_of(url)).content  # GET now says so, no button


def test_a_tampered_token_gets_400_and_changes_nothing(order: Order, consents: Any, client: Client) -> None:
    token = unsubscribe_token(order.customer)
    other = buy(STORE_REF, "o-2", "bob@example.com", ["dune"], 1).customer
    forged = unsubscribe_token(other).split(":")[0] + ":" + token.split(":", 1)[1]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, "nonsense"):
        assert client.post(f"/crosssell/u/{bad}/").status_code == 400
        assert client.get(f"/crosssell/u/{bad}/").status_code == 400
    assert Customer.objects.filter(unsubscribed_at__isnull=False).count() == 0
    assert CustomerConsent.objects.filter(granted=False).count() == 0


def test_a_token_is_bound_to_its_store(order: Order) -> None:
    other_store = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    assert customer_of(unsubscribe_token(order.customer)) == order.customer
    moved = Customer(pk=order.customer_id, store=other_store)
    assert customer_of(unsubscribe_token(moved)) is None  # same pk, wrong store: not found
    assert unsubscribe_url(order.customer).startswith(SITE + "/crosssell/u/")
    assert urlsplit(unsubscribe_url(order.customer)).path.endswith("/")


def test_other_methods_are_refused(order: Order, client: Client) -> None:
    assert client.put(f"/crosssell/u/{unsubscribe_token(order.customer)}/").status_code == 405


# --- the SMS channel --------------------------------------------------------------------------

STOP = "Reply STOP to opt out."


def short_links(body: str) -> list[str]:
    return re.findall(rf"{re.escape(SITE)}/crosssell/s/[A-Za-z0-9_-]{{22}}/", body)


def test_an_sms_shows_the_store_two_recommendations_with_links_the_offer_and_stop(order: Order) -> None:
    message = scheduled(order, offer_code="THANKS10", offer_percent=Decimal("10.00"))
    outgoing = get_channel("sms").build(message, recs(order.store, "dune", "arrival", "tenet"))

    assert (outgoing.channel, outgoing.to) == ("sms", "+442079460958")
    assert outgoing.idempotency_key == message.idempotency_key
    body = outgoing.body
    assert len(body) <= MAX_SMS_LENGTH and body.endswith(STOP)
    assert body.startswith("Test store: Hi Ann!")
    assert "Dune €12.50" in body and "Arrival €9.99" in body and "Tenet" not in body
    assert "10% off: code THANKS10" in body
    assert len(short_links(body)) == 2
    impressions = outgoing.meta["impressions"]
    assert [i.item.external_id for i in impressions] == ["dune", "arrival"]
    assert {(i.placement, i.order_id, i.customer_id, i.pk) for i in impressions} == {
        ("sms", order.pk, order.customer_id, None)
    }


@pytest.mark.parametrize("template", ["soft_upsell", "bundle", "loyalty"])
def test_every_template_fits_and_ends_with_stop(order: Order, template: str) -> None:
    outgoing = SmsChannel().build(scheduled(order, template, offer_code="X" * 30), recs(order.store, "dune", "arrival"))
    assert len(outgoing.body) <= MAX_SMS_LENGTH and outgoing.body.endswith(STOP)


def test_long_titles_leave_one_recommendation_then_a_shortened_title(order: Order) -> None:
    items = Item.objects.for_store(order.store)
    items.filter(external_id="dune").update(title="Dune: " + "the very long director's cut " * 4)
    items.filter(external_id="arrival").update(title="Arrival " * 10)
    outgoing = SmsChannel().build(scheduled(order), recs(order.store, "dune", "arrival"))
    assert len(outgoing.body) <= MAX_SMS_LENGTH and outgoing.body.endswith(STOP)
    assert "Dune: the very long" in outgoing.body and "Arrival" not in outgoing.body
    assert len(short_links(outgoing.body)) == 1 and len(outgoing.meta["impressions"]) == 1

    items.filter(external_id="dune").update(title="Dune " + "x" * 400)
    shortened = SmsChannel().build(scheduled(order), recs(order.store, "dune"))
    assert len(shortened.body) <= MAX_SMS_LENGTH and "xxx..." in shortened.body and shortened.body.endswith(STOP)


def test_a_store_name_too_long_for_an_sms_is_a_permanent_error(order: Order) -> None:
    Store.objects.filter(pk=order.store_id).update(name="S" * 200)
    order = Order.objects.select_related("store", "customer").get(pk=order.pk)
    with pytest.raises(PermanentSendError, match="at most 320"):
        SmsChannel().build(scheduled(order), recs(order.store, "dune"))


@pytest.mark.parametrize(
    ("phone", "problem"),
    [("", "no phone number"), ("   ", "no phone number"), ("020 7946 0958", "must start with \\+"), ("+0123", "0")],
)
def test_a_missing_or_invalid_phone_is_a_permanent_error(order: Order, phone: str, problem: str) -> None:
    Customer.objects.filter(pk=order.customer_id).update(phone=phone)
    message = scheduled(order)
    with pytest.raises(PermanentSendError, match=problem):
        SmsChannel().build(message, recs(order.store, "dune"))


def test_send_goes_through_the_configured_backend(order: Order, capsys: pytest.CaptureFixture[str]) -> None:
    outgoing = SmsChannel().build(scheduled(order), recs(order.store, "dune"))
    result = SmsChannel().send(outgoing)
    printed = capsys.readouterr().out
    assert "SMS to: +442079460958" in printed and outgoing.body in printed
    assert result.provider_message_id.startswith("console-")


def test_a_short_link_goes_through_the_click_redirect_to_the_item(order: Order, client: Client) -> None:
    outgoing = SmsChannel().build(scheduled(order), recs(order.store, "dune"))
    save_impressions(outgoing.meta["impressions"])  # as the dispatcher does after the send
    link = short_links(outgoing.body)[0]

    hop = client.get(path_of(link))
    assert hop.status_code == 302 and hop["Location"].startswith("/crosssell/r/")
    final = client.get(hop["Location"])
    assert final.status_code == 302 and final["Location"] == "/films/dune/"
    assert Click.objects.filter(impression__key=outgoing.meta["impressions"][0].key).count() == 1


@pytest.mark.parametrize("code", ["AAAAAAAAAAAAAAAAAAAAAA", "short", "!!!!!!!!!!!!!!!!!!!!!!"])
def test_an_unknown_short_link_gets_400(client: Client, code: str, store: Store) -> None:
    assert client.get(f"/crosssell/s/{code}/").status_code == 400
