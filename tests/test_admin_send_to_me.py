"""The admin's *send to me*: a step's real email, with the recommendations a customer would get now,
sent to the signed-in staff member's own address through the email channel (Django's locmem
backend here), from the paths list, the outbox or a step's preview, with real admin POSTs. The
customer's rows, consents, frequency cap and the measurements are untouched."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crosssell_plugin.channels.email import message_id
from crosssell_plugin.followups.dispatch import dispatch_due, rerank
from crosssell_plugin.models import (
    Click,
    Conversion,
    Customer,
    CustomerConsent,
    Impression,
    InAppMessage,
    Item,
    Order,
    Path,
    ScheduledMessage,
    Step,
    Store,
)

from .followups_support import T0, customer, enable_default_path, event, seed_popular

pytestmark = pytest.mark.django_db

Status = ScheduledMessage.Status
SITE = "https://shop.example.test"
CHANGELIST = {
    Path: "admin:crosssell_path_changelist",
    ScheduledMessage: "admin:crosssell_scheduledmessage_changelist",
}


@pytest.fixture
def shop(store: Store, record: Callable[..., Order], isolated_models: None, settings: Any) -> Store:
    """The classic path on, by email; other customers' orders to recommend from."""
    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": None, "SITE_URL": SITE}
    settings.DEFAULT_FROM_EMAIL = "shop@example.test"
    seed_popular(record)
    enable_default_path(store, channel="email")
    return store


@pytest.fixture
def order(shop: Store, record: Callable[..., Order]) -> Order:
    return record(event("s-1", at=T0, who=customer(channels=("email",))))


@pytest.fixture
def owner(admin_user: Any) -> Any:
    admin_user.email, admin_user.first_name = "owner@shop.example.test", "Olga"
    admin_user.save()
    return admin_user


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row a send could touch, every field of it."""
    models = (ScheduledMessage, Impression, Click, Conversion, InAppMessage, CustomerConsent, Customer)
    return {
        model.__name__: [
            tuple(getattr(row, f.attname) for f in model._meta.concrete_fields) for row in model.objects.order_by("pk")
        ]
        for model in models
    }


def writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements that wrote, other than the admin's own session (its messages)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"} and "django_session" not in q["sql"]
    ]


def post_action(client: Client, model: type, action: str, pks: list[int]) -> Any:
    data = {"action": action, "_selected_action": [str(pk) for pk in pks], "index": "0"}
    return client.post(reverse(CHANGELIST[model]), data, follow=True)


def page_messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def expected_titles(message: ScheduledMessage) -> list[str]:
    """What the dispatcher would recommend in this message now."""
    message = ScheduledMessage.objects.select_related("store", "customer", "order", "step").get(pk=message.pk)
    recs = rerank(message, "email")
    return [rec.item.title for rec in recs[: message.step.limit]]


def html_of(sent: Any) -> str:
    (html, mimetype) = sent.alternatives[0]
    assert mimetype == "text/html"
    return html


def planned(order: Order) -> list[ScheduledMessage]:
    return list(ScheduledMessage.objects.for_store(order.store_id).filter(order=order).order_by("step__position"))


# --- from the paths list: every step of a path --------------------------------------------------------


def test_the_path_action_sends_each_steps_real_email_to_me_and_touches_nothing(
    client: Client, owner: Any, shop: Store, order: Order, settings: Any
) -> None:
    messages = planned(order)
    assert [m.status for m in messages] == [Status.PLANNED] * 3
    titles = [expected_titles(m) for m in messages]
    assert all(titles)
    path = messages[0].path
    client.force_login(owner)
    before = snapshot()
    with CaptureQueriesContext(connection) as queries:
        response = post_action(client, Path, "send_steps_to_me", [path.pk])
    assert response.status_code == 200
    assert writes(queries) == [] and snapshot() == before  # no message, impression, click, consent

    assert len(mail.outbox) == 3
    for sent, message, wanted in zip(mail.outbox, messages, titles, strict=True):
        assert sent.to == ["owner@shop.example.test"] and sent.from_email == "shop@example.test"
        html = html_of(sent)
        # the customer's email: their name, the step's subject, the recommendations of now, in order
        assert "Hi Ann," in html and "Hi Ann," in sent.body
        positions = [html.index(title) for title in wanted]
        assert positions == sorted(positions)
        assert all(title in sent.body for title in wanted)
        # harmless: untracked links, an unsubscribe link that unsubscribes nobody, its own Message-ID
        assert "/crosssell/r/" not in html and "/crosssell/u/" not in html and "/crosssell/u/" not in sent.body
        parsed = message_from_bytes(sent.message().as_bytes())
        assert "".join(parsed["Message-ID"].split()) != message_id(message.idempotency_key)
        assert parsed["X-Crosssell-Test"] == f"step {message.step_id}, order {order.pk}"
        unsubscribe = sent.extra_headers["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith(SITE + reverse("admin:crosssell_step_preview", args=[message.step_id]))
    subjects = [sent.subject for sent in mail.outbox]
    assert subjects[0] == "Picked for you after your order"
    texts = page_messages(response)
    assert sum("to owner@shop.example.test" in t and "#s-1" in t for t in texts) == 3, texts

    # the frequency cap did not count them: the customer's first follow-up still goes out, on time
    settings.CROSSSELL = {**settings.CROSSSELL, "FREQUENCY_CAP": 1}
    with time_machine.travel(T0 + timedelta(hours=1, seconds=1), tick=False):
        report = dispatch_due()
    assert report.sent == 1 and planned(order)[0].status == Status.SENT
    assert mail.outbox[3].to == ["ann@example.com"]


def test_links_of_a_test_email_go_straight_to_the_items_and_its_unsubscribe_link_changes_nothing(
    client: Client, owner: Any, shop: Store, order: Order
) -> None:
    Item.objects.for_store(shop).update(url="/items/x/")
    client.force_login(owner)
    post_action(client, Path, "send_steps_to_me", [planned(order)[0].path_id])
    html = html_of(mail.outbox[0])
    links = set(re.findall(r'href="([^"]+)"', html))
    unsubscribe = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>")
    assert links == {SITE + "/items/x/", unsubscribe.replace("&", "&amp;")}
    before = snapshot()
    page = client.get(urlsplit(unsubscribe).path + "?" + urlsplit(unsubscribe).query)
    assert page.status_code == 200
    assert any("unsubscribe link of a test email" in t for t in page_messages(page))
    assert snapshot() == before
    assert Customer.objects.get(pk=order.customer_id).has_marketing_consent("email")


# --- from the outbox: a planned message ------------------------------------------------------------


def test_the_outbox_action_sends_a_planned_message_to_me(client: Client, owner: Any, order: Order) -> None:
    second = planned(order)[1]
    wanted = expected_titles(second)
    client.force_login(owner)
    before = snapshot()
    response = post_action(client, ScheduledMessage, "send_to_me", [second.pk])
    assert snapshot() == before
    (sent,) = mail.outbox
    assert sent.to == ["owner@shop.example.test"]
    assert [title in sent.body for title in wanted] == [True] * len(wanted)
    assert sent.subject == "Complete your collection"  # the second step's, as the customer gets it
    (text,) = [t for t in page_messages(response) if t.startswith("Sent")]
    assert "step 2" in text and "owner@shop.example.test" in text and "ann@example.com" in text
    assert ScheduledMessage.objects.get(pk=second.pk).status == Status.PLANNED


def test_too_many_at_once_sends_nothing(client: Client, owner: Any, shop: Store, record: Callable[..., Order]) -> None:
    orders = [record(event(f"m-{n}", who=customer(f"m{n}@example.com", channels=("email",)))) for n in range(4)]
    pks = [m.pk for o in orders for m in planned(o)]
    assert len(pks) == 12
    client.force_login(owner)
    response = post_action(client, ScheduledMessage, "send_to_me", pks)
    assert mail.outbox == []
    assert any("select at most 10" in t for t in page_messages(response))


# --- from a step's preview: the order shown -------------------------------------------------------


def test_the_preview_sends_the_order_it_shows_to_me(
    client: Client, owner: Any, order: Order, record: Callable[..., Order]
) -> None:
    later = record(event("s-2", at=T0 + timedelta(days=1), who=customer("bob@example.com", first_name="Bob")))
    step = planned(order)[0].step
    preview = reverse("admin:crosssell_step_preview", args=[step.pk])
    send = reverse("admin:crosssell_step_send_to_me", args=[step.pk])
    client.force_login(owner)
    page = client.get(preview, {"order": order.pk}).content.decode()
    assert f'action="{send}"' in page and f'name="order" value="{order.pk}"' in page
    assert "owner@shop.example.test" in page
    assert client.get(send).status_code == 405  # a POST only

    before = snapshot()
    response = client.post(send, {"order": str(order.pk)})
    assert response.status_code == 302 and response["Location"] == f"{preview}?order={order.pk}"
    assert snapshot() == before
    (sent,) = mail.outbox
    assert "Hi Ann," in sent.body and "Hi Bob," not in sent.body  # the order picked, not the latest
    shown = client.get(response["Location"])
    assert any(t.startswith("Sent") and "#s-1" in t for t in page_messages(shown))

    client.post(send)  # no order: the store's latest
    assert "Hi Bob," in mail.outbox[1].body and later.store_id == order.store_id


def test_the_preview_refuses_another_stores_order_and_a_bad_order(client: Client, owner: Any, order: Order) -> None:
    other = Store.objects.create(platform="custom", external_id="other-store", name="Other", currency="EUR")
    theirs_customer = Customer.objects.create(store=other, email="x@example.com")
    theirs = Order.objects.create(
        store=other, customer=theirs_customer, external_id="x-1", placed_at=T0, currency="EUR", total=Decimal("1")
    )
    send = reverse("admin:crosssell_step_send_to_me", args=[planned(order)[0].step_id])
    client.force_login(owner)
    assert client.post(send, {"order": str(theirs.pk)}).status_code == 404
    assert client.post(send, {"order": "abc"}).status_code == 404
    assert mail.outbox == []


def test_a_store_without_orders_sends_a_sample_customers_email(client: Client, owner: Any, settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "SITE_URL": SITE}
    empty = Store.objects.create(platform="custom", external_id="new-shop", name="New shop", currency="EUR")
    Item.objects.create(
        store=empty, external_id="mug", kind="merch", title="Blue mug", price=Decimal("9"), currency="EUR"
    )
    step = Step.objects.filter(path__store=empty).order_by("position").first()
    assert step is not None and not Order.objects.for_store(empty).exists()
    client.force_login(owner)
    response = client.post(reverse("admin:crosssell_step_send_to_me", args=[step.pk]), follow=True)
    (sent,) = mail.outbox
    assert sent.to == ["owner@shop.example.test"] and "Blue mug" in sent.body and "Hi Olga," in sent.body
    texts = page_messages(response)
    assert any("sample customer" in t and t.startswith("Sent") for t in texts), texts
    assert not Customer.objects.for_store(empty).exists() and not ScheduledMessage.objects.exists()


# --- who may, and what goes wrong -------------------------------------------------------------------


def test_a_user_without_an_email_address_is_told_so_and_nothing_is_sent(
    client: Client, admin_user: Any, order: Order
) -> None:
    admin_user.email = ""
    admin_user.save()
    client.force_login(admin_user)
    response = post_action(client, Path, "send_steps_to_me", [planned(order)[0].path_id])
    assert mail.outbox == []
    (text,) = page_messages(response)
    assert "no email address" in text and "Users" in text


def test_nothing_left_to_recommend_is_said_and_nothing_is_sent(
    client: Client, owner: Any, shop: Store, order: Order
) -> None:
    Item.objects.for_store(shop).exclude(order_lines__order=order).update(available=False)
    client.force_login(owner)
    response = post_action(client, ScheduledMessage, "send_to_me", [planned(order)[0].pk])
    assert mail.outbox == []
    assert any("Nothing to recommend for order #s-1" in t for t in page_messages(response))


class OneStoreBackend:
    """An object-permission backend (like django-guardian's): ``crosssell.view_store`` for one store."""

    store_pk: int | None = None

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: int) -> None:
        return None

    def has_perm(self, user: Any, perm: str, obj: Any = None) -> bool:
        return perm == "crosssell.view_store" and isinstance(obj, Store) and obj.pk == self.store_pk


def test_sending_needs_view_store_for_the_paths_store(
    client: Client, order: Order, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, f"{__name__}.OneStoreBackend"]
    clerk = get_user_model().objects.create_user("clerk", "clerk@shop.example.test", "pw", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="crosssell", codename__in=["view_path"])
    )
    client.force_login(clerk, backend="django.contrib.auth.backends.ModelBackend")
    path_pk = planned(order)[0].path_id

    response = post_action(client, Path, "send_steps_to_me", [path_pk])
    assert mail.outbox == []
    (text,) = page_messages(response)
    assert "3 test email(s) of Test store" in text and "crosssell.view_store" in text

    monkeypatch.setattr(OneStoreBackend, "store_pk", order.store_id + 1000)  # another store's permission
    post_action(client, Path, "send_steps_to_me", [path_pk])
    assert mail.outbox == []

    monkeypatch.setattr(OneStoreBackend, "store_pk", order.store_id)  # this store's
    response = post_action(client, Path, "send_steps_to_me", [path_pk])
    assert [sent.to for sent in mail.outbox] == [["clerk@shop.example.test"]] * 3

    # without the view permission on the outbox, its action is not offered
    outbox = client.post(reverse(CHANGELIST[ScheduledMessage]), {"action": "send_to_me", "_selected_action": [path_pk]})
    assert outbox.status_code == 403 and len(mail.outbox) == 3


def test_what_would_stop_the_customers_own_message_is_said_beside_the_test(
    client: Client, owner: Any, shop: Store, record: Callable[..., Order]
) -> None:
    """A customer with no email consent on an SMS step: the test goes to me, and the admin says the
    customer would get no email and that this is the step's email version."""
    quiet = record(event("q-1", who=customer("quiet@example.com", channels=())))
    message = planned(quiet)[0]
    Step.objects.filter(pk=message.step_id).update(channel="sms")
    client.force_login(owner)
    response = post_action(client, ScheduledMessage, "send_to_me", [message.pk])
    (sent,) = mail.outbox
    assert sent.to == ["owner@shop.example.test"]
    texts = page_messages(response)
    assert any("has not consented to marketing email" in t for t in texts), texts
    assert any("sent on the SMS channel; this is its email version" in t for t in texts), texts
