"""Builders shared by the follow-up tests, and a file-backed SMS "provider" for worker processes."""

from __future__ import annotations

import os
import pathlib
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crosssell_plugin.channels.base import Outgoing, SendResult
from crosssell_plugin.events import Consent, CustomerData, PurchaseLine
from crosssell_plugin.followups.defaults import DEFAULT_PATH_NAME
from crosssell_plugin.models import Path, Store

from .conftest import catalog_item, purchase_event

T0 = datetime(2026, 11, 3, 12, 30, tzinfo=UTC)
ALL_CHANNELS = ("email", "sms", "in_app")


def consents(*channels: str, at: datetime = T0 - timedelta(days=30)) -> tuple[Consent, ...]:
    return tuple(Consent(channel=c, granted=True, source="checkout", recorded_at=at) for c in channels)


def customer(email: str = "ann@example.com", *, channels: tuple[str, ...] = ALL_CHANNELS, **extra: Any) -> CustomerData:
    values = {"first_name": "Ann", "phone": "+14155550100", "consents": consents(*channels), **extra}
    return CustomerData(email=email, **values)


def event(order_id: str, *, at: datetime = T0, who: CustomerData | None = None, items: tuple[str, ...] = ("film-1",)):
    lines = tuple(PurchaseLine(catalog_item(i), 1, Decimal("9.99")) for i in items)
    return purchase_event(order_id, occurred_at=at, customer=who or customer(), lines=lines)


def seed_popular(record: Any, n: int = 6, at: datetime = T0 - timedelta(days=20)) -> None:
    """Other customers' orders, so the popular fallback has items to recommend (pop-1 most popular)."""
    for buyer in range(n):
        items = tuple(f"pop-{i}" for i in range(1, n - buyer + 1))
        record(event(f"seed-{buyer}", at=at, who=customer(f"seed{buyer}@example.com", channels=()), items=items))


def enable_default_path(store: Store, channel: str = "in_app") -> Path:
    path = Path.objects.for_store(store).get(name=DEFAULT_PATH_NAME)
    path.enabled = True
    path.save()
    path.steps.update(channel=channel)
    return path


class FileSmsBackend:
    """A provider stand-in for worker processes: appends ``<idempotency key>`` to the file named by
    ``CROSSSELL_TEST_SMS_FILE`` (one write per call, O_APPEND), after ``CROSSSELL_TEST_SMS_DELAY`` s.

    With ``CROSSSELL_TEST_SMS_GATE`` (a directory) the process's first send announces itself with
    a ``ready-<pid>`` file there and waits for a ``go`` file, so a test can hold every worker at
    its first claimed message until all of them are up, whatever the machine's load."""

    _passed_gate = False

    def send(self, message: Outgoing) -> SendResult:
        gate = os.environ.get("CROSSSELL_TEST_SMS_GATE")
        if gate and not FileSmsBackend._passed_gate:
            pathlib.Path(gate, f"ready-{os.getpid()}").touch()
            deadline = time.monotonic() + 120
            while not pathlib.Path(gate, "go").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            FileSmsBackend._passed_gate = True
        delay = float(os.environ.get("CROSSSELL_TEST_SMS_DELAY", "0"))
        if delay:
            time.sleep(delay)
        fd = os.open(os.environ["CROSSSELL_TEST_SMS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{message.idempotency_key}\n".encode())
        finally:
            os.close(fd)
        return SendResult(provider_message_id=f"file-{message.idempotency_key}")
