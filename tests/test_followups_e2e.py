"""Follow-up paths end to end, with nothing of ours mocked: a real Celery worker process sending the
due follow-ups it was asked for through Redis; a purchase followed through planning, a moving
clock, the email, its one-click unsubscribe and the silence after; an SMS STOP; a refund and a
conversion cutting a path short; and the admin's email preview of a step for a real order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crosssell_plugin.events import PurchaseLine, RefundEvent, StoreRef
from crosssell_plugin.followups.dispatch import dispatch_due
from crosssell_plugin.ingest import record_purchase, record_refund
from crosssell_plugin.models import (
    Click,
    Conversion,
    Customer,
    CustomerConsent,
    Impression,
    InAppMessage,
    Item,
    Order,
    ScheduledMessage,
    Step,
    Store,
)
from crosssell_plugin.tasks import dispatch_followups_task

from .conftest import STORE_REF, catalog_item, celery_configured, celery_worker, purchase_event
from .followups_support import T0, customer, enable_default_path, event, seed_popular

Status = ScheduledMessage.Status
ROOT = Path(__file__).resolve().parent.parent
TOKEN = "e2e-auth-token-0123456789"
HOSTILE = 'Evil "><script>alert(1)</script> & co'


@pytest.fixture
def shop(store: Store, record: Callable[..., Order], isolated_models: None, settings: Any) -> Store:
    """The default path switched on, by email; other customers' orders to recommend from."""
    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": {"START": "21:00", "END": "09:00"}}
    seed_popular(record)
    enable_default_path(store, channel="email")
    return store


def rows(order: Order) -> list[ScheduledMessage]:
    return list(ScheduledMessage.objects.for_store(order.store_id).filter(order=order).order_by("due_at"))


def dispatch_at(when: Any) -> Any:
    with time_machine.travel(when, tick=False):
        return dispatch_due()


def titles(item_pks: list[int]) -> list[str]:
    found = Item.objects.in_bulk(item_pks)
    return [found[pk].title for pk in item_pks]


# --- a real Celery worker process, over Redis ----------------------------------------------------

REDIS_URL = os.environ.get("CROSSSELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
RUN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
QUEUE = f"crosssell-e2e-{RUN}"  # this run's own queue and node: runs sharing Redis never serve each other
NODE = f"crosssell-e2e-{RUN}@{socket.gethostname()}"


@pytest.fixture
def dispatch_worker(transactional_db: Any, tmp_path: Path) -> Iterator[Path]:
    """A Celery worker process on the test database, SMS through the file-backed provider stand-in;
    yields the file it appends each sent SMS's idempotency key to."""
    sms_file = tmp_path / "sms.log"
    overrides = {"SMS": {"BACKEND": "tests.followups_support.FileSmsBackend"}, "QUIET_HOURS": None}
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.followups_worker_settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_WORKER_BROKER_URL": REDIS_URL,
        "CROSSSELL_TEST_OVERRIDES": json.dumps(overrides),
        "CROSSSELL_TEST_SMS_FILE": str(sms_file),
    }
    with (
        celery_configured(
            broker_url=REDIS_URL, result_backend=REDIS_URL, task_always_eager=False, task_default_queue=QUEUE
        ),
        celery_worker(NODE, QUEUE, env),
    ):
        yield sms_file


@pytest.mark.slow
def test_a_real_worker_sends_the_due_followups_it_is_asked_for_through_redis(
    dispatch_worker: Path, isolated_models: None
) -> None:
    store = Store.objects.create(
        platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="Worker store", currency="EUR"
    )
    now = timezone.now()
    seed_popular(lambda purchase: record_purchase(purchase), at=now - timedelta(days=20))
    path = enable_default_path(store, channel="sms")
    path.steps.filter(position=2).update(channel="email")
    # placed 2 days ago: the 1-hour SMS and the 24-hour email are due, the 7-day one is not
    orders = [
        record_purchase(event(f"w-{n}", at=now - timedelta(days=2), who=customer(f"w{n}@example.com"))).order
        for n in range(3)
    ]
    assert ScheduledMessage.objects.for_store(store).filter(status=Status.PLANNED).count() == 9

    result = dispatch_followups_task.delay().get(timeout=120)

    assert (result["claimed"], result["sent"], result["failed"], result["retried"]) == (6, 6, 0, 0), result
    sms_sent = Counter(dispatch_worker.read_text().split())
    sent = ScheduledMessage.objects.for_store(store).filter(status=Status.SENT)
    assert sorted(sms_sent) == sorted(sent.filter(sent_channel="sms").values_list("idempotency_key", flat=True))
    assert set(sms_sent.values()) == {1} and len(sms_sent) == 3
    for order in orders:
        first, second, third = rows(order)
        assert (first.status, first.sent_channel, first.provider_message_id) == (
            Status.SENT,
            "sms",
            f"file-{first.idempotency_key}",
        )
        assert second.status == Status.SENT and second.sent_channel == "email"
        assert second.provider_message_id.startswith("<crosssell.")  # the email's stable Message-ID
        assert first.sent_items and second.sent_items and first.attempts == second.attempts == 1
        assert third.status == Status.PLANNED  # due in 5 days
    # the impressions of what each message showed: all of an email's, the two that fit in an SMS
    emails = sent.filter(sent_channel="email")
    shown = Impression.objects.for_store(store)
    assert shown.filter(placement="email").count() == sum(len(m.sent_items) for m in emails) == 9
    assert shown.filter(placement="sms").count() == 6
    # asked again, the worker finds nothing more to send
    again = dispatch_followups_task.delay().get(timeout=120)
    assert (again["claimed"], again["sent"]) == (0, 0)
    assert len(dispatch_worker.read_text().split()) == 3


def test_sent_items_are_the_items_the_sms_showed(
    shop: Store, record: Callable[..., Order], settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSSELL_TEST_SMS_FILE", str(tmp_path / "sms.log"))
    settings.CROSSSELL = {**settings.CROSSSELL, "SMS": {"BACKEND": "tests.followups_support.FileSmsBackend"}}
    Step.objects.filter(path__store=shop).update(channel="sms")  # limit 3; an SMS shows at most 2
    order = record(event("si-1", who=customer(channels=("sms",))))
    assert dispatch_at(T0 + timedelta(hours=1, seconds=1)).sent == 1
    first = rows(order)[0]
    shown = Impression.objects.for_store(shop).filter(placement="sms", order=order).order_by("rank")
    assert first.sent_items == list(shown.values_list("item_id", flat=True))


# --- a purchase, the email, one-click unsubscribe -------------------------------------------------


def test_purchase_email_one_click_unsubscribe_then_silence(
    shop: Store, record: Callable[..., Order], client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    order = record(event("e2e-1", who=customer(channels=("email",))))
    planned = rows(order)
    assert [m.due_at - T0 for m in planned] == [timedelta(hours=1), timedelta(hours=24), timedelta(days=7)]
    assert {m.status for m in planned} == {Status.PLANNED}

    assert dispatch_at(T0 + timedelta(minutes=59)).claimed == 0
    report = dispatch_at(T0 + timedelta(hours=1, seconds=1))
    assert (report.claimed, report.sent) == (1, 1), report
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    first = rows(order)[0]
    assert email.to == ["ann@example.com"] and first.status == Status.SENT and first.sent_channel == "email"
    names = titles(first.sent_items)
    assert names and all(name in email.body for name in names)
    html = email.alternatives[0].content
    assert all(name in html for name in names)
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = email.extra_headers["List-Unsubscribe"]
    assert header.startswith("<http") and header.endswith(">")
    url = header[1:-1]
    assert url in email.body and url in html

    # the mail provider's RFC 8058 one-click POST: no cookie, no CSRF token
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            urlsplit(url).path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 200
    person = Customer.objects.get(pk=order.customer_id)
    assert person.unsubscribed_at is not None
    consent = CustomerConsent.objects.get(customer=person, channel="email")
    assert (consent.granted, consent.source) == (False, "one-click unsubscribe")
    assert [(m.status, m.skip_reason) for m in rows(order)] == [
        (Status.SENT, ""),
        (Status.CANCELLED, "consent withdrawn"),
        (Status.CANCELLED, "consent withdrawn"),
    ]

    assert dispatch_at(T0 + timedelta(days=8)).claimed == 0
    assert len(mail.outbox) == 1


# --- SMS STOP --------------------------------------------------------------------------------------


def twilio_sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    """Twilio's signature, computed independently (as tests/test_sms.py does)."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_an_sms_stop_cancels_the_pending_sms_followups(
    shop: Store,
    record: Callable[..., Order],
    client: Any,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sms_file = tmp_path / "sms.log"
    monkeypatch.setenv("CROSSSELL_TEST_SMS_FILE", str(sms_file))
    settings.CROSSSELL = {
        **settings.CROSSSELL,
        "SMS": {"BACKEND": "tests.followups_support.FileSmsBackend", "AUTH_TOKEN": TOKEN},
    }
    Step.objects.filter(path__store=shop).update(channel="sms")
    order = record(event("stop-1", who=customer(phone="+1 (415) 555-0100", channels=("sms", "email"))))
    assert dispatch_at(T0 + timedelta(hours=1, seconds=1)).sent == 1
    assert sms_file.read_text().split() == [rows(order)[0].idempotency_key]

    inbound = reverse("crosssell:sms-inbound")
    params = {
        "AccountSid": "AC123",
        "Body": " Stop ",
        "From": "+14155550100",
        "MessageSid": "SM" + "c" * 32,
        "NumMedia": "0",
        "To": "+15005550006",
    }
    forged = client.post(
        inbound,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": twilio_sign(f"http://testserver{inbound}", params, token="wrong")},
    )
    assert forged.status_code == 403
    assert {m.status for m in rows(order)[1:]} == {Status.PLANNED}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            inbound,
            urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": twilio_sign(f"http://testserver{inbound}", params)},
        )
    assert response.status_code == 200 and response.content.decode().endswith("<Response/>")
    person = Customer.objects.get(pk=order.customer_id)
    assert not person.has_marketing_consent("sms") and person.has_marketing_consent("email")
    assert [(m.status, m.skip_reason) for m in rows(order)] == [
        (Status.SENT, ""),
        (Status.CANCELLED, "consent withdrawn (sms)"),
        (Status.CANCELLED, "consent withdrawn (sms)"),
    ]
    assert dispatch_at(T0 + timedelta(days=8)).claimed == 0
    assert len(sms_file.read_text().split()) == 1


# --- a refund, a conversion --------------------------------------------------------------------------


def test_a_refund_recorded_through_record_refund_cancels_the_rest(
    shop: Store, record: Callable[..., Order], django_capture_on_commit_callbacks: Any
) -> None:
    order = record(event("rf-1", who=customer(channels=("email",))))
    assert dispatch_at(T0 + timedelta(hours=1, seconds=1)).sent == 1
    refund = RefundEvent(
        store=STORE_REF,
        order_id="rf-1",
        refund_id="rf-1-a",
        amount=Decimal("9.99"),
        currency="EUR",
        occurred_at=T0 + timedelta(hours=2),
        raw={"id": "rf-1-a"},
    )
    with time_machine.travel(T0 + timedelta(hours=2), tick=False), django_capture_on_commit_callbacks(execute=True):
        record_refund(refund)
    assert [(m.status, m.skip_reason) for m in rows(order)] == [
        (Status.SENT, ""),
        (Status.CANCELLED, "order refunded"),
        (Status.CANCELLED, "order refunded"),
    ]
    assert dispatch_at(T0 + timedelta(days=8)).claimed == 0
    assert len(mail.outbox) == 1


def test_buying_a_recommended_item_cancels_the_steps_that_say_so(
    shop: Store, record: Callable[..., Order], settings: Any
) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "FREQUENCY_CAP": 10}  # the second order's messages go out too
    Step.objects.filter(path__store=shop, position=2).update(cancel_on_conversion=True)
    Step.objects.filter(path__store=shop, position=3).update(cancel_on_conversion=False)
    ann = customer(channels=("email",))
    first = record(event("cv-1", who=ann))
    assert dispatch_at(T0 + timedelta(hours=1, seconds=1)).sent == 1
    recommended = rows(first)[0].sent_items
    assert recommended
    impression = Impression.objects.for_store(shop).get(placement="email", item_id=recommended[0])
    assert impression.customer_id == first.customer_id

    bought = Item.objects.get(pk=recommended[0])
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        second = record(event("cv-2", at=T0 + timedelta(hours=3), who=ann, items=(bought.external_id,)))
    assert Conversion.objects.for_store(shop).filter(order=second, impression=impression).exists()
    assert [(m.status, m.skip_reason) for m in rows(first)] == [
        (Status.SENT, ""),
        (Status.CANCELLED, "customer bought a recommended item"),
        (Status.PLANNED, ""),  # this step does not cancel on a conversion
    ]
    # the loyalty nudge of the first order still goes out; the second order's own path runs as well
    dispatch_at(T0 + timedelta(days=7, hours=1))
    assert rows(first)[2].status == Status.SENT
    assert rows(first)[1].status == Status.CANCELLED


# --- the admin's email preview -------------------------------------------------------------------------


class _Iframes(HTMLParser):
    """The attributes of every iframe of a page, as a browser decodes them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.found.append(dict(attrs))


def iframes(html: str) -> list[dict[str, str | None]]:
    parser = _Iframes()
    parser.feed(html)
    return parser.found


def preview_url(step: Step, order: Order | None = None, **query: Any) -> str:
    url = reverse("admin:crosssell_step_preview", args=[step.pk])
    if order is not None:
        query["order"] = order.pk
    return url + ("?" + urlencode(query) if query else "")


def writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"} and "django_session" not in q["sql"]
    ]


@pytest.fixture
def hostile_shop(shop: Store, record: Callable[..., Order]) -> Store:
    """A store whose most popular item has a title written to break out of HTML."""
    evil = PurchaseLine(catalog_item("evil", title=HOSTILE), 1, Decimal("9.99"))
    for n in range(8):
        buyer = customer(f"fan{n}@example.com", channels=())
        record(purchase_event(f"fan-{n}", occurred_at=T0 - timedelta(days=10), customer=buyer, lines=(evil,)))
    return shop


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (ScheduledMessage, Impression, Click, Conversion, InAppMessage, CustomerConsent)
    }


def test_admin_preview_renders_a_steps_email_for_a_real_order_and_writes_nothing(
    admin_client: Any, hostile_shop: Store, record: Callable[..., Order]
) -> None:
    Step.objects.filter(path__store=hostile_shop, position=1).update(offer_code="THANKS10", offer_percent=10)
    order = record(event("pv-1", at=T0 + timedelta(days=1), who=customer(channels=("email",))))
    ScheduledMessage.objects.filter(order=order).delete()  # the preview needs no planned message
    step = Step.objects.get(path__store=hostile_shop, position=1)
    path_page = admin_client.get(reverse("admin:crosssell_path_change", args=[step.path_id])).content.decode()
    assert preview_url(step) in path_page  # each step row links to its preview

    before = counts()
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(preview_url(step, order))
    assert response.status_code == 200
    assert writes(queries) == [] and counts() == before  # no message, no impression, nothing

    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    (frame,) = iframes(page)
    assert frame["sandbox"] == ""  # no scripts, forms, popups or same-origin access
    srcdoc = frame["srcdoc"] or ""
    assert "Evil &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in srcdoc  # escaped once, in the email
    assert "<script>" not in srcdoc and '<base target="_blank">' in srcdoc
    assert "THANKS10" in srcdoc and "/crosssell/u/" in srcdoc  # the offer and the unsubscribe link
    # headers and the text part, as the dispatcher would send them
    assert "List-Unsubscribe-Post" in page and "List-Unsubscribe=One-Click" in page and "Message-ID" in page
    assert "Picked for you after your order" in page and "ann@example.com" in page
    assert "Evil &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page  # the text part, escaped
    assert f'<option value="{order.pk}" selected>' in page

    # without ?order the latest order of the store is shown
    latest = admin_client.get(preview_url(step)).content.decode()
    assert f'<option value="{order.pk}" selected>' in latest and iframes(latest)
    assert counts() == before


def test_admin_preview_is_scoped_to_the_paths_store_and_to_staff(
    admin_client: Any, client: Any, shop: Store, record: Callable[..., Order]
) -> None:
    other = Store.objects.create(platform="custom", external_id="other-store", name="Other", currency="EUR")
    theirs = record_purchase(purchase_event("x-1", store=StoreRef("custom", "other-store"))).order
    ours = record(event("o-1", who=customer(channels=("email",))))
    step = Step.objects.get(path__store=shop, position=1)
    assert theirs.store_id == other.pk

    assert admin_client.get(preview_url(step, theirs)).status_code == 404
    assert admin_client.get(preview_url(step) + "?order=abc").status_code == 404
    assert admin_client.get(reverse("admin:crosssell_step_preview", args=[999999])).status_code == 404
    listed = admin_client.get(preview_url(step)).content.decode()
    assert f'value="{ours.pk}"' in listed and f'value="{theirs.pk}"' not in listed

    # anonymous: the admin login; staff without permission on paths: refused; with it: the preview
    assert client.get(preview_url(step, ours)).status_code == 302
    users = get_user_model()
    clerk = users.objects.create_user("clerk", "clerk@example.com", "pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(preview_url(step, ours)).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_path", content_type__app_label="crosssell"))
    clerk = users.objects.get(pk=clerk.pk)
    client.force_login(clerk)
    assert client.get(preview_url(step, ours)).status_code == 200


def test_admin_preview_says_so_when_nothing_is_left_to_recommend(
    admin_client: Any, shop: Store, record: Callable[..., Order]
) -> None:
    order = record(event("n-1", who=customer(channels=("email",))))
    Item.objects.for_store(shop).exclude(order_lines__order=order).update(available=False)
    step = Step.objects.get(path__store=shop, position=1)
    before = counts()
    response = admin_client.get(preview_url(step, order))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing to recommend for this order" in page and "nothing left to recommend" in page
    assert iframes(page) == [] and counts() == before


def test_admin_preview_explains_a_step_that_cannot_be_built(
    admin_client: Any, shop: Store, record: Callable[..., Order]
) -> None:
    order = record(event("b-1", who=customer(channels=())))
    step = Step.objects.get(path__store=shop, position=1)
    step.template = "welcome"  # no crosssell/email/welcome.html
    step.save()
    page = admin_client.get(preview_url(step, order)).content.decode()
    assert "cannot be built" in page and "crosssell/email/welcome" in page
    assert "has not consented to marketing email" in page
