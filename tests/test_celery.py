"""Celery wiring: eager with no broker, a real worker process over Redis when one is set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from crosssell_plugin.models import Order, Store
from crosssell_plugin.tasks import record_purchase_task
from shop.celery import app

from .conftest import STORE_REF, celery_configured, celery_worker, purchase_event

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("CROSSSELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
# A queue and worker name of this run's own, so that two test runs sharing Redis never serve each other.
RUN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
QUEUE = f"crosssell-test-{RUN}"
NODE = f"crosssell-test-{RUN}@{socket.gethostname()}"


def _settings_in_subprocess(env: dict[str, str]) -> str:
    code = "import shop.settings as s; print(getattr(s, 'CELERY_TASK_ALWAYS_EAGER', False), s.CELERY_BROKER_URL)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_SETTINGS"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env, "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_without_a_broker_tasks_run_eagerly() -> None:
    assert _settings_in_subprocess({}) == "True memory://"


def test_with_a_broker_url_the_real_broker_is_used() -> None:
    assert (
        _settings_in_subprocess({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/3"}) == "False redis://127.0.0.1:6379/3"
    )


def test_plugin_tasks_are_registered() -> None:
    app.loader.import_default_modules()
    assert {"crosssell.record_purchase", "crosssell.oscar.record_order", "crosssell.oscar.sync_product"} <= set(
        app.tasks
    )


@pytest.fixture
def real_broker() -> Iterator[str]:
    """Point the test process's Celery app at Redis (not eager) and restore it afterwards."""
    with celery_configured(
        broker_url=REDIS_URL, result_backend=REDIS_URL, task_always_eager=False, task_default_queue=QUEUE
    ):
        yield REDIS_URL


@pytest.fixture
def worker(transactional_db, real_broker: str) -> Iterator[subprocess.Popen[str]]:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_WORKER_BROKER_URL": real_broker,
    }
    with celery_worker(NODE, QUEUE, env) as proc:
        yield proc


@pytest.mark.slow
def test_a_real_worker_records_a_purchase_sent_through_redis(worker) -> None:
    store = Store.objects.create(
        platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="Worker store", currency="EUR"
    )
    registered = app.control.inspect(destination=[NODE], timeout=5).registered() or {}
    assert any("crosssell.oscar.record_order" in tasks for tasks in registered.values())
    result = record_purchase_task.delay(purchase_event("w-1").to_dict())
    assert result.get(timeout=60) == {
        "order": Order.objects.get().pk,
        "created": True,
        "updated": False,
        "stale": False,
    }
    order = Order.objects.for_store(store).get(external_id="w-1")
    assert order.lines.count() == 2
    # A second delivery through the queue is idempotent.
    again = record_purchase_task.delay(purchase_event("w-1").to_dict()).get(timeout=60)
    assert again["created"] is False and Order.objects.count() == 1
