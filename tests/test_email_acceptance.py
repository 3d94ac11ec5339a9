"""A follow-up email is recorded as sent as soon as the mail server accepted it (250 after DATA),
before the connection is closed (QUIT), against a real SMTP server on 127.0.0.1 (aiosmtpd, see
:mod:`tests.smtp_server`) that misbehaves on QUIT: answers 421, drops the connection, or holds
QUIT unanswered while the test looks at the outbox, kills the worker process, and lets another
worker take over."""

from __future__ import annotations

import json
import logging
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import connection
from django.utils import timezone

from crosssell_plugin.channels import SendResult
from crosssell_plugin.channels.email import EmailChannel, message_id
from crosssell_plugin.followups.dispatch import dispatch_due, rerank
from crosssell_plugin.models import (
    Customer,
    CustomerConsent,
    Impression,
    Item,
    Order,
    OrderLine,
    ScheduledMessage,
    Step,
    Store,
)
from crosssell_plugin.models import Path as FollowupPath

from .conftest import STORE_REF
from .smtp_server import DROP, HOLD, REFUSE, SmtpServer, smtp_server

Status = ScheduledMessage.Status
ROOT = Path(__file__).resolve().parent.parent
#: long enough for any machine: a wait that ends early is the normal case
WAIT = 120.0


def email_outbox(store: Store, n_customers: int) -> list[ScheduledMessage]:
    """One email follow-up due now per customer (each consented to email and bought one film)."""
    items = Item.objects.bulk_create(
        Item(store=store, external_id=f"i-{n}", kind="film", title=f"Film {n}", price=Decimal("5"), currency="EUR")
        for n in range(6)
    )
    path = FollowupPath.objects.create(store=store, name="by email", enabled=True)
    step = Step.objects.create(
        path=path, position=1, name="soft", delay=timedelta(hours=1), channel="email", template="soft_upsell"
    )
    customers = Customer.objects.bulk_create(
        Customer(store=store, email=f"c{n}@example.com", first_name=f"C{n}") for n in range(n_customers)
    )
    now = timezone.now()
    CustomerConsent.objects.bulk_create(
        CustomerConsent(customer=c, channel="email", granted=True, source="test", recorded_at=now) for c in customers
    )
    orders = Order.objects.bulk_create(
        Order(store=store, customer=c, external_id=f"o-{n}", placed_at=now - timedelta(days=1), currency="EUR", total=5)
        for n, c in enumerate(customers)
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=o, position=1, item=items[n % 6], quantity=1, unit_price=Decimal("5"))
        for n, o in enumerate(orders)
    )
    return ScheduledMessage.objects.bulk_create(
        ScheduledMessage(
            store=store,
            customer_id=o.customer_id,
            order=o,
            path=path,
            step=step,
            idempotency_key=f"{o.customer_id}:{o.pk}:{step.pk}",
            channel="email",
            due_at=now - timedelta(minutes=1),
        )
        for o in orders
    )


def smtp_settings(settings: Any, server: SmtpServer, timeout: float = 30.0) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, timeout
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": None, "FREQUENCY_CAP": 1000}


def ids_of(messages: list[ScheduledMessage]) -> list[str]:
    return [message_id(m.idempotency_key) for m in messages]


# --- the channel: acceptance is reported while the connection is still open ---------------------


def test_the_email_channel_reports_acceptance_before_it_says_quit(store: Store, settings: Any) -> None:
    (message,) = email_outbox(store, 1)
    message = ScheduledMessage.objects.select_related("store", "customer", "order", "step").get(pk=message.pk)
    seen: list[tuple[int, list[str], SendResult]] = []
    with smtp_server() as server:
        smtp_settings(settings, server)
        outgoing = EmailChannel().build(message, rerank(message, "email"))

        def accepted(result: SendResult) -> None:
            seen.append((len(server.accepted), list(server.quits), result))

        result = EmailChannel().send(outgoing, accepted=accepted)
    # called once, after the 250 to DATA and before QUIT, with what send returns
    assert seen == [(1, [], result)]
    assert server.quits == ["221"]
    assert server.message_ids() == [outgoing.headers["Message-ID"]] == [result.provider_message_id]
    assert server.accepted[0].recipients == ["c0@example.com"]


@pytest.mark.parametrize("quit_mode", [REFUSE, DROP, HOLD], ids=["421-on-quit", "dropped-on-quit", "quit-times-out"])
def test_a_server_failing_quit_after_accepting_leaves_the_message_sent_once(
    store: Store, settings: Any, quit_mode: str
) -> None:
    messages = email_outbox(store, 2)
    with smtp_server([quit_mode, quit_mode]) as server:
        smtp_settings(settings, server, timeout=1.0)  # a held QUIT: the client gives up after 1 s
        report = dispatch_due()
        assert (report.sent, report.retried, report.failed, report.lost) == (2, 0, 0, 0)
        rows = ScheduledMessage.objects.for_store(store).order_by("pk")
        assert [(r.status, r.attempts, r.last_error) for r in rows] == [(Status.SENT, 1, "")] * 2
        assert [r.provider_message_id for r in rows] == ids_of(messages)
        assert Impression.objects.for_store(store).filter(placement="email").count() > 0
        # nothing is left for another run, now or after the leases would have ended
        with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
            assert dispatch_due().claimed == 0
    assert sorted(server.message_ids()) == sorted(ids_of(messages))
    assert server.quits == [quit_mode, quit_mode]


class QuitRaisingBackend(SmtpBackend):
    """Django's SMTP backend whose closing raises, as a third-party backend's may."""

    def close(self) -> None:
        had_connection = self.connection is not None
        super().close()
        if had_connection:
            raise smtplib.SMTPResponseException(421, b"4.4.2 Timeout waiting for QUIT")


def test_an_error_while_closing_after_acceptance_is_logged_not_retried(
    store: Store, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    (message,) = email_outbox(store, 1)
    with smtp_server() as server:
        smtp_settings(settings, server)
        settings.EMAIL_BACKEND = f"{__name__}.QuitRaisingBackend"
        with caplog.at_level(logging.WARNING, logger="crosssell_plugin.channels.email"):
            report = dispatch_due()
    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    row = ScheduledMessage.objects.get(pk=message.pk)
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 1, "")
    assert server.message_ids() == ids_of([message])
    warnings = [r for r in caplog.records if r.name == "crosssell_plugin.channels.email"]
    assert len(warnings) == 1 and "421" in warnings[0].getMessage() and "accepted" in warnings[0].getMessage()


def test_a_message_the_server_refused_at_data_is_retried_not_recorded(store: Store, settings: Any) -> None:
    (message,) = email_outbox(store, 1)
    with smtp_server(data_replies=["451 4.3.0 Temporary local problem, try again"]) as server:
        smtp_settings(settings, server)
        report = dispatch_due()
    row = ScheduledMessage.objects.get(pk=message.pk)
    assert (report.sent, report.retried) == (0, 1)
    assert (row.status, row.attempts, row.sent_at) == (Status.PLANNED, 1, None) and "SMTP 451" in row.last_error
    assert server.accepted == [] and len(server.refused) == 1


# --- the outbox row says "sent" while the server still holds QUIT ---------------------------------


@pytest.fixture
def committed_store(transactional_db: Any) -> Iterator[Store]:
    yield Store.objects.create(
        platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="SMTP store", currency="EUR"
    )


def test_the_row_is_sent_while_quit_is_still_unanswered(committed_store: Store, settings: Any) -> None:
    (message,) = email_outbox(committed_store, 1)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = dispatch_due()
        finally:
            connection.close()

    with smtp_server([HOLD]) as server:
        smtp_settings(settings, server, timeout=WAIT)
        worker = threading.Thread(target=run)
        worker.start()
        try:
            assert server.holding.wait(WAIT), "the dispatcher never said QUIT"
            row = ScheduledMessage.objects.get(pk=message.pk)
            assert (row.status, row.provider_message_id) == (Status.SENT, message_id(message.idempotency_key))
        finally:
            server.release()
            worker.join(WAIT)
    assert outcome["report"].sent == 1
    assert server.message_ids() == ids_of([message])


# --- a worker killed right after the server accepted: the message is not sent twice -------------


def smtp_dispatcher(server: SmtpServer, *args: str, lease: int) -> subprocess.Popen[str]:
    overrides = {"QUIET_HOURS": None, "FREQUENCY_CAP": 1000, "LEASE_SECONDS": lease}
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}",
        "DJANGO_SETTINGS_MODULE": "tests.smtp_worker_settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_TEST_OVERRIDES": json.dumps(overrides),
        "CROSSSELL_TEST_SMTP_PORT": str(server.port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "django", "crosssell_dispatch", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_a_worker_killed_after_the_server_accepted_does_not_send_twice(committed_store: Store) -> None:
    messages = email_outbox(committed_store, 4)
    connection.close()
    rows = ScheduledMessage.objects.for_store(committed_store)
    # the first QUIT is held: the worker is killed while it waits for the answer
    with smtp_server([HOLD]) as server:
        victim = smtp_dispatcher(server, "--worker-id", "victim", lease=2)
        try:
            held = server.holding.wait(WAIT)
            assert held, victim.communicate(timeout=WAIT)[0] if victim.poll() is not None else "no QUIT"
            (accepted,) = server.message_ids()
            os.kill(victim.pid, signal.SIGKILL)
        finally:
            victim.kill()
            output = victim.communicate(timeout=WAIT)[0]
        assert victim.returncode == -signal.SIGKILL, output
        (first,) = rows.filter(provider_message_id=accepted)
        assert (first.status, first.attempts) == (Status.SENT, 1)
        assert rows.filter(status=Status.CLAIMED, claimed_by__startswith="victim").count() == len(messages) - 1
        server.release()

        # another worker takes over the victim's other rows once their lease ended
        survivor = smtp_dispatcher(server, "--loop", "--interval", "0.5", "--worker-id", "survivor", lease=2)
        try:
            deadline = time.monotonic() + WAIT
            while rows.filter(status=Status.SENT).count() < len(messages):
                assert survivor.poll() is None and time.monotonic() < deadline, "the survivor did not finish"
                time.sleep(0.2)
        finally:
            survivor.send_signal(signal.SIGTERM)
            output = survivor.communicate(timeout=WAIT)[0]
    sent = Counter(server.message_ids())
    assert sorted(sent) == sorted(ids_of(messages)), output
    assert set(sent.values()) == {1}, (sent, output)  # each accepted exactly once
    assert rows.filter(claimed_by__startswith="survivor").count() == len(messages) - 1
