"""The impression buffer: a page that shows a block only appends its impressions to a list; the
process publishes them to the real broker (Redis) as one ``crosssell.log_impressions`` message per
flush, and a real worker writes them. Nothing of ours is mocked."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.template import Context, Template

from crosssell_plugin.models import Impression, ModelVersion, Order
from crosssell_plugin.recommend import for_order
from crosssell_plugin.tracking import (
    ImpressionBuffer,
    buffer,
    flush_impressions,
    impression_pk_of,
    impression_row,
    plan_impressions,
    publish_impressions,
)

from .conftest import STORE_REF, celery_configured, celery_worker
from .test_recommend import buy
from .test_surfaces import trained  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("CROSSSELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> None:
    """Fresh model storage, no cached model or block (see tests/conftest.py)."""


@pytest.fixture
def queue(settings: Any) -> Iterator[str]:
    """The Celery app publishes to Redis (not eager) on a queue of this test's own; the buffer is
    flushed only when a test says so (or its thread, when a test shortens the interval)."""
    name = f"crosssell-buffer-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    settings.CROSSSELL = {**settings.CROSSSELL, "IMPRESSION_FLUSH_SECONDS": 60}
    if buffer._thread is not None:  # a thread left waiting out a shorter interval takes the long one
        buffer._wake.set()
        deadline = time.monotonic() + 5
        while buffer._wake.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
    with celery_configured(broker_url=REDIS_URL, task_always_eager=False, task_default_queue=name):
        yield name
        flush_impressions()  # nothing a test left behind is published at exit to another broker
    redis.Redis.from_url(REDIS_URL).delete(name)


def messages(queue: str) -> list[list[dict[str, Any]]]:
    """The rows argument of each ``crosssell.log_impressions`` message waiting on ``queue``, oldest
    first (kombu pushes new messages at the head of the list)."""
    found = []
    for raw in reversed(redis.Redis.from_url(REDIS_URL).lrange(queue, 0, -1)):
        message = json.loads(raw)
        assert message["headers"]["task"] == "crosssell.log_impressions"
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append(args[0])
    return found


def render(order: Order, limit: int = 4) -> str:
    return Template("{% load crosssell %}{% crosssell_block order limit=limit %}").render(
        Context({"order": order, "limit": limit})
    )


def test_blocks_shown_only_buffer_their_impressions_and_a_flush_publishes_one_message(
    trained: ModelVersion,  # noqa: F811
    queue: str,
) -> None:
    first = buy(STORE_REF, "new-1", "ann@example.com", ["inception"], 30)
    second = buy(STORE_REF, "new-2", "bob@example.com", ["heat"], 31)

    assert render(first).count('class="crosssell-block__item"') == 4
    assert render(second, limit=3).count('class="crosssell-block__item"') == 3

    assert len(buffer) == 7 and messages(queue) == []  # nothing published by the pages
    assert not Impression.objects.exists()
    assert flush_impressions() == 7
    (rows,) = messages(queue)  # one message for both blocks
    assert sorted((row["order_id"], row["rank"]) for row in rows) == sorted(
        [(first.pk, rank) for rank in (1, 2, 3, 4)] + [(second.pk, rank) for rank in (1, 2, 3)]
    )
    assert {row["store_id"] for row in rows} == {first.store_id}
    assert len(buffer) == 0 and flush_impressions() == 0


def test_the_buffers_thread_publishes_on_its_own(trained: ModelVersion, queue: str, settings: Any) -> None:  # noqa: F811
    settings.CROSSSELL = {**settings.CROSSSELL, "IMPRESSION_FLUSH_SECONDS": 0.2}
    buffer._wake.set()  # a thread waiting out the long interval starts the short one
    order = buy(STORE_REF, "new-1", "ann@example.com", ["inception"], 30)
    render(order)
    deadline = time.monotonic() + 10
    while not messages(queue) and time.monotonic() < deadline:
        time.sleep(0.05)
    (rows,) = messages(queue)
    assert [row["rank"] for row in rows] == [1, 2, 3, 4] and len(buffer) == 0


def test_with_no_flush_interval_each_block_publishes_from_the_request(
    trained: ModelVersion,  # noqa: F811
    queue: str,
    settings: Any,
) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "IMPRESSION_FLUSH_SECONDS": 0}
    render(buy(STORE_REF, "new-1", "ann@example.com", ["inception"], 30))
    assert [len(rows) for rows in messages(queue)] == [4]
    render(buy(STORE_REF, "new-2", "bob@example.com", ["heat"], 31), limit=2)
    assert [len(rows) for rows in messages(queue)] == [4, 2] and len(buffer) == 0


def test_with_an_unreachable_broker_the_flush_writes_the_impressions_itself(
    trained: ModelVersion,  # noqa: F811
    queue: str,
) -> None:
    order = buy(STORE_REF, "new-1", "ann@example.com", ["inception"], 30)
    render(order)
    with celery_configured(
        broker_url="redis://127.0.0.1:1/0",  # nothing listens on port 1
        broker_connection_retry=False,
        broker_connection_timeout=1,
        broker_transport_options={"max_retries": 0},
        task_publish_retry=False,
    ):
        assert flush_impressions() == 4
    assert sorted(Impression.objects.filter(order=order).values_list("rank", flat=True)) == [1, 2, 3, 4]
    assert messages(queue) == []


def test_a_forked_child_starts_with_an_empty_buffer(trained: ModelVersion, queue: str) -> None:  # noqa: F811
    render(buy(STORE_REF, "new-1", "ann@example.com", ["inception"], 30))
    assert len(buffer) == 4
    pid = os.fork()
    if pid == 0:  # the child: its parent's rows are not its to publish
        os._exit(0 if len(buffer) == 0 and buffer._thread is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(buffer) == 4  # the parent still has them


def row(rank: int) -> dict[str, Any]:
    """A planned impression as the buffer carries it (as ``impression_row`` makes it)."""
    return {
        "store_id": 1,
        "order_id": None,
        "customer_id": None,
        "item_id": 1,
        "placement": "thank_you",
        "rank": rank,
        "score": 1.0,
        "model_version_id": None,
        "reason": "",
        "key": f"{rank:032x}",
        "created_at": "2026-11-01T12:00:00+00:00",
    }


EXITING = """
import json, sys
import django
django.setup()
from django.conf import settings
settings.CROSSSELL = {**settings.CROSSSELL, "IMPRESSION_FLUSH_SECONDS": 60}
from shop.celery import app
app.conf.task_default_queue = sys.argv[1]
from crosssell_plugin.tracking import buffer, publish_impressions
publish_impressions(json.loads(sys.argv[2]))
print(len(buffer))
"""


def test_a_process_publishes_its_buffered_impressions_when_it_exits(queue: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_SETTINGS"))},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CROSSSELL_WORKER_BROKER_URL": REDIS_URL,  # tests.settings: this broker, not eager
        "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}",
    }
    rows = json.dumps([row(rank) for rank in (1, 2, 3)])
    done = subprocess.run(
        [sys.executable, "-c", EXITING, queue, rows], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"  # still buffered when the script ended
    (rows,) = messages(queue)  # published on the way out
    assert [row["rank"] for row in rows] == [1, 2, 3]


def test_a_full_buffer_is_published_at_once_in_messages_of_bounded_size(queue: str) -> None:
    publish_impressions([row(rank) for rank in range(1, ImpressionBuffer.MESSAGE_ROWS + 2)])  # over FLUSH_ROWS
    deadline = time.monotonic() + 10
    while len(messages(queue)) < 2 and time.monotonic() < deadline:  # the interval is 60 s: not waited for
        time.sleep(0.05)
    assert [len(rows) for rows in messages(queue)] == [ImpressionBuffer.MESSAGE_ROWS, 1]
    assert len(buffer) == 0


@pytest.mark.slow
def test_a_real_worker_writes_what_the_buffer_published(
    transactional_db: Any,
    trained: ModelVersion,  # noqa: F811
    queue: str,
) -> None:
    order = buy(STORE_REF, "new-1", "ann@example.com", ["inception"], 30)
    html = render(order)
    planned = plan_impressions(order.store, for_order(order, limit=2), "email", order=order)
    publish_impressions([impression_row(i) for i in planned])
    assert flush_impressions() == 6 and not Impression.objects.exists()
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_WORKER_BROKER_URL": REDIS_URL,
    }
    with celery_worker(f"{queue}@{socket.gethostname()}", queue, env):
        deadline = time.monotonic() + 60
        while Impression.objects.count() < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
    written = Impression.objects.filter(order=order)
    assert sorted(written.values_list("placement", "rank")) == [("email", 1), ("email", 2)] + [
        ("thank_you", rank) for rank in (1, 2, 3, 4)
    ]
    links = re.findall(r'href="/crosssell/r/([^/"]+)/"', html)
    assert len(links) == 4
    assert {impression_pk_of(token) for token in links} == set(
        written.filter(placement="thank_you").values_list("pk", flat=True)
    )
    assert Impression.objects.count() == 6  # the links name the rows the worker wrote


def test_where_the_thread_never_runs_a_later_page_publishes_what_waited(queue: str, caplog: Any) -> None:
    stuck = ImpressionBuffer()
    stuck._thread = threading.Thread(target=lambda: None)  # as under uWSGI without threads: never runs
    stuck.add([row(1)])
    assert messages(queue) == [] and len(stuck) == 1  # at first it waits, like any buffer
    stuck._since -= 61 + ImpressionBuffer.STALLED_SECONDS  # a minute later (the interval is 60 s here)
    stuck.add([row(2)])
    assert [[r["rank"] for r in rows] for rows in messages(queue)] == [[1, 2]] and len(stuck) == 0
    assert "--enable-threads" in caplog.text
