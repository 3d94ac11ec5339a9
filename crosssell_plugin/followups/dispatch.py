"""The outbox dispatcher: claim due follow-ups under a lease, check the guards, re-rank, send once.

One run (:func:`dispatch_due`) claims up to ``batch_size`` due rows and handles them one by one,
in chunks of at most :data:`CHUNK` messages to different customers (:func:`chunks`): what the
guards and the re-ranking need about the chunk's customers (their consents, their recent sends,
their conversions, what they bought and watched) is read for the whole chunk in a few queries
right before its messages are handled, instead of a few queries per message. The customer and
order rows are those read with the claim, as always. A customer's second message of the batch
goes in a later chunk, which reads afresh: each message is checked against the data read
before it, including the sends just made, like a check made alone.

**Claiming.** A row is due when it is ``planned`` with ``due_at`` and ``next_attempt_at`` (if any)
in the past, or ``claimed`` with an expired lease (its worker died). On PostgreSQL the due rows are
locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` and marked claimed in the same transaction, so
concurrent workers take disjoint rows without waiting for each other. Databases without
``SKIP LOCKED`` (SQLite) use one conditional ``UPDATE ... SET claimed_by = <token> WHERE pk IN (...)
AND <still due>``: the statement is atomic, so of two workers that picked the same candidates only
the first one's update matches; each then reads back the rows that carry its own token. Every
claim has a fresh token (``worker id : random``), the lease ends ``LEASE_SECONDS`` later.

**Recording.** Every write that ends a claim (sent, skipped, failed, back to planned) is
conditional on ``status = claimed AND claimed_by = <token>``: a worker whose lease expired and
whose rows were re-claimed by another cannot record anything over them. A row whose lease is
about to end is not sent; it is released for the next run.

**Retries.** A transient provider error puts the row back to ``planned`` with
``next_attempt_at = now + max(retry_after, min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (attempts - 1)) * jitter)``,
jitter uniform in [0.5, 1], and out of quiet hours. After ``MAX_ATTEMPTS`` attempts the row is
``failed`` with the error. A permanent error fails it at once; when the provider says the recipient
opted out, the customer's consent on that channel is withdrawn (``consent_withdrawn`` is sent,
which cancels their other pending messages on the channel).

**Crash safety, and the window that remains.** A worker killed after claiming leaves its rows
``claimed``; when the lease expires another worker takes them over, so nothing is lost. A row is
recorded ``sent`` the moment the provider accepted the message: a channel that still has work
after that (the email channel closing its SMTP connection with QUIT after the server's 250 to
DATA) reports the acceptance through a callback (``accepted``, see
:mod:`crosssell_plugin.channels.base`) and the row is written before that work, whose errors are
only logged: a worker killed, or a server failing or hanging, during or after QUIT causes no
duplicate and no retry. What remains is the time between the provider's acceptance and the commit
of the ``sent`` row (a few milliseconds: the time of one UPDATE): a worker killed exactly then
leaves a message that *was* delivered and is sent again after the lease. The retry carries the
same idempotency key (the Message-ID of an email, the ``I-Twilio-Idempotency-Token`` of an SMS): a
provider that deduplicates on it delivers once; one that does not (Twilio, most SMTP servers) may
deliver twice in that window. The in-app channel is exactly once by construction (its send is
idempotent on the scheduled message).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..channels import get_channel
from ..channels.base import PermanentSendError, TransientSendError
from ..conf import crosssell_settings
from ..models import CustomerConsent, Path, ScheduledMessage
from ..signals import consent_withdrawn
from .auto import PRIORS, channel_scores, choose_channel
from .guards import Facts, blocking_reason, postponed_until, read_facts
from .timing import customer_zone, out_of_quiet_hours

if TYPE_CHECKING:
    from ..experiments.assignment import Treatment
    from ..surfaces.serve import CustomerHistory, SharedReads

logger = logging.getLogger(__name__)

Status = ScheduledMessage.Status

#: steps due at most this long after the purchase re-rank around the order (``for_order``);
#: later ones (the 7-day loyalty nudge) around everything the customer owns (``for_customer``)
ORDER_CONTEXT = timedelta(days=2)

#: claimed messages handled per read of their guards' data and histories (at most a fraction of
#: a second of sending: a consent withdrawn meanwhile is missed only within that time)
CHUNK = 20


def chunks(messages: list[ScheduledMessage], size: int = CHUNK) -> list[list[ScheduledMessage]]:
    """``messages`` in due order, cut into chunks of at most ``size`` with at most one message per
    customer each (a customer's next message goes in the next chunk that has room for it)."""
    result: list[list[ScheduledMessage]] = []
    pending = messages
    while pending:
        chunk: list[ScheduledMessage] = []
        customers: set[tuple[int, int]] = set()
        later: list[ScheduledMessage] = []
        for message in pending:
            key = (message.store_id, message.customer_id)
            if len(chunk) < size and key not in customers:
                chunk.append(message)
                customers.add(key)
            else:
                later.append(message)
        result.append(chunk)
        pending = later
    return result


@dataclass
class DispatchReport:
    """What one run did; ``lost`` counts rows whose claim expired and went to another worker."""

    worker_id: str
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    postponed: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0
    seconds: float = 0.0
    skip_reasons: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str, reason: str = "") -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if reason:
            self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1

    def __str__(self) -> str:
        return (
            f"claimed {self.claimed}, sent {self.sent}, skipped {self.skipped}, postponed {self.postponed}, "
            f"retried {self.retried}, failed {self.failed}, released {self.released}, lost {self.lost} "
            f"in {self.seconds:.2f} s"
        )


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- claiming -----------------------------------------------------------------------------------


def due(now: datetime) -> Q:
    """Rows a worker may claim at ``now``: due, or claimed under an expired lease, of a path that
    is not paused, of an active store (a paused path's or an inactive store's messages wait — an
    uninstalled shop sends nothing; a subquery, so that no path row is locked)."""
    ready = Q(status=Status.PLANNED, due_at__lte=now) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    running = Q(path_id__in=Path.objects.filter(enabled=True, store__is_active=True).values("pk"))
    return (ready | Q(status=Status.CLAIMED, lease_until__lt=now)) & running


def claim(batch_size: int, token: str, now: datetime) -> list[ScheduledMessage]:
    """Claim up to ``batch_size`` due rows for ``token`` (module docstring) and return them.

    The one query of the plugin that spans stores: the outbox is shared; every row carries its
    store and all the work done for it is scoped to that store.
    """
    lease = now + timedelta(seconds=crosssell_settings.LEASE_SECONDS)
    claimed = {"status": Status.CLAIMED, "claimed_by": token, "lease_until": lease, "updated_at": now}
    candidates = ScheduledMessage.objects.filter(due(now)).order_by("due_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            pks = list(candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch_size])
            if pks:
                ScheduledMessage.objects.filter(pk__in=pks).update(**claimed)
    else:
        pks = list(candidates.values_list("pk", flat=True)[:batch_size])
        if pks:
            ScheduledMessage.objects.filter(due(now), pk__in=pks).update(**claimed)
    if not pks:
        return []
    return list(
        ScheduledMessage.objects.filter(status=Status.CLAIMED, claimed_by=token)
        .select_related("store", "customer", "customer__store", "order", "order__store", "order__customer", "step")
        .order_by("due_at", "pk")
    )


def finish(message: ScheduledMessage, token: str, **fields: Any) -> bool:
    """Write ``fields`` if ``token`` still holds the claim; False when another worker took it."""
    fields.setdefault("updated_at", timezone.now())
    held = ScheduledMessage.objects.filter(pk=message.pk, status=Status.CLAIMED, claimed_by=token)
    return bool(held.update(**fields))


def back_to_planned(**fields: Any) -> dict[str, Any]:
    return {"status": Status.PLANNED, "claimed_by": "", "lease_until": None, **fields}


# --- one message --------------------------------------------------------------------------------


class _Run:
    """The state of one dispatcher run: its token, its report, per-store channel scores."""

    def __init__(self, worker_id: str) -> None:
        self.token = f"{worker_id}:{uuid.uuid4().hex[:12]}"
        self.report = DispatchReport(worker_id=worker_id)
        self.scores: dict[int, dict[str, float]] = {}
        self.safety = timedelta(seconds=min(5.0, crosssell_settings.LEASE_SECONDS / 5))
        #: the guards' data and the histories of the chunk being handled (None: read per message)
        self.facts: Facts | None = None
        self.histories: dict[tuple[int, int], CustomerHistory] = {}
        self.reads: dict[int, SharedReads] = {}

    def prepare(self, chunk: list[ScheduledMessage]) -> None:
        """Read what the guards and the re-ranking need for ``chunk``: the guards' facts, the
        customers' histories and, when the store has a model, the recent pair counts of every
        item in those histories. Should that fail, each message reads its own."""
        from ..surfaces import serve

        self.facts, self.histories = None, {}
        self.reads = {m.store_id: serve.shared_reads(m.store_id) for m in chunk}
        stores = {m.store_id: m.store for m in chunk}
        try:
            self.facts = read_facts(chunk, timezone.now())
            by_store: dict[int, set[int]] = {}
            for message in chunk:
                by_store.setdefault(message.store_id, set()).add(message.customer_id)
            for store_id, customers in by_store.items():
                histories = serve.histories(store_id, customers)
                for pk, history in histories.items():
                    self.histories[(store_id, pk)] = history
                if serve.model_version(stores[store_id]):
                    self.reads[store_id].pair_rows(pk for h in histories.values() for pk in h.items())
        except Exception:
            logger.exception("The guards' data of %d follow-ups could not be read at once", len(chunk))
            self.facts, self.histories = None, {}
            self.reads = {store_id: serve.shared_reads(store_id) for store_id in stores}

    def consented(self, customer: Any, channel: str) -> bool:
        if self.facts is not None:
            return self.facts.has_consent(customer, channel)
        return bool(customer.has_marketing_consent(channel))

    def channel_for(self, message: ScheduledMessage) -> str | None:
        """The channel to send on: the planned one if the customer consented to it; for ``auto``
        the best-scored consented channel; None when there is no consent."""
        customer = message.customer
        if message.channel != "auto":
            return message.channel if self.consented(customer, message.channel) else None
        if message.store_id not in self.scores:
            self.scores[message.store_id] = channel_scores(message.store_id)
        consented = [c for c in PRIORS if self.consented(customer, c)]
        return choose_channel(consented, self.scores[message.store_id])

    def handle(self, message: ScheduledMessage) -> None:
        try:
            outcome, reason = self._handle(message)
        except Exception as err:  # a guard or the ranking failed: try again later, like a provider outage
            logger.exception("Follow-up %s could not be handled", message.pk)
            outcome, reason = self._retry(message, f"{type(err).__name__}: {err}", None)
        self.report.count(outcome, reason)

    def _handle(self, message: ScheduledMessage) -> tuple[str, str]:
        now = timezone.now()
        if message.lease_until is None or now >= message.lease_until - self.safety:
            ok = finish(message, self.token, **back_to_planned())
            return ("released", "") if ok else ("lost", "")
        reason = blocking_reason(message, self.facts)
        channel = None
        if reason is None:
            channel = self.channel_for(message)
            if channel is None:
                reason = f"no marketing consent on {message.channel}"
        if reason is None:
            later = postponed_until(message, now, self.facts)
            if isinstance(later, str):
                reason = later
            elif later is not None:
                return self._outcome("postponed", finish(message, self.token, **back_to_planned(due_at=later)))
        if reason is None:
            history = self.histories.get((message.store_id, message.customer_id))
            arm = self.facts.treatments.get(message.customer_id) if self.facts is not None else None
            recommendations = rerank(message, channel or "", history, self.reads.get(message.store_id), arm)
            if not recommendations:
                reason = "nothing left to recommend"
        if reason is not None or channel is None:
            reason = reason or "no channel"
            held = finish(message, self.token, status=Status.SKIPPED, skip_reason=reason[:200])
            return self._outcome("skipped", held, reason)
        return self._send(message, channel, recommendations)

    @staticmethod
    def _outcome(name: str, held: bool, reason: str = "") -> tuple[str, str]:
        return (name, reason) if held else ("lost", "")

    def _send(self, message: ScheduledMessage, channel_name: str, recommendations: list[Any]) -> tuple[str, str]:
        channel = get_channel(channel_name)
        record = _Recording(message, self.token, channel_name, recommendations)
        try:
            outgoing = channel.build(message, recommendations)
            record.outgoing = outgoing
            if getattr(channel, "reports_acceptance", False):
                result = channel.send(outgoing, accepted=record)  # type: ignore[call-arg]
            else:
                result = channel.send(outgoing)
        except Exception as err:
            if record.done:  # accepted, then an error (a channel should not raise then): sent, never again
                return record.outcome()
            return self._failed_send(message, channel_name, err)
        if not record.done:  # a channel recorded when its send returns
            record(result)
        return record.outcome()

    def _failed_send(self, message: ScheduledMessage, channel_name: str, err: Exception) -> tuple[str, str]:
        if isinstance(err, TransientSendError):
            return self._retry(message, str(err), err.retry_after)
        if isinstance(err, PermanentSendError):
            if err.opted_out:
                withdraw_consent(message, channel_name)
            held = finish(message, self.token, status=Status.FAILED, attempts=message.attempts + 1, last_error=str(err))
            return self._outcome("failed", held)
        # a bug or an outage of ours: retried like a provider outage, then failed
        logger.error("Follow-up %s could not be built or sent", message.pk, exc_info=err)
        return self._retry(message, f"{type(err).__name__}: {err}", None)

    def _retry(self, message: ScheduledMessage, error: str, retry_after: float | None) -> tuple[str, str]:
        attempts = message.attempts + 1
        if attempts >= crosssell_settings.MAX_ATTEMPTS:
            held = finish(message, self.token, status=Status.FAILED, attempts=attempts, last_error=error)
            return self._outcome("failed", held)
        now = timezone.now()
        wait = backoff_seconds(attempts, retry_after)
        when = out_of_quiet_hours(now + timedelta(seconds=wait), customer_zone(message.customer, message.store))
        held = finish(message, self.token, **back_to_planned(attempts=attempts, next_attempt_at=when, last_error=error))
        return self._outcome("retried", held)


class _Recording:
    """The ``accepted`` callback of a send: records the message as sent (:func:`mark_sent`) the
    moment the provider accepted it, before the channel closes its connection. It never raises: an
    error while recording is kept and raised by :meth:`outcome`, after the channel is done, so that
    it is never taken for an error of the send."""

    def __init__(self, message: ScheduledMessage, token: str, channel: str, recommendations: list[Any]) -> None:
        self.message, self.token, self.channel, self.recommendations = message, token, channel, recommendations
        self.outgoing: Any = None
        self.done = False
        self.held = False
        self.error: Exception | None = None

    def __call__(self, result: Any) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.held = mark_sent(self.message, self.token, self.channel, self.outgoing, result, self.recommendations)
        except Exception as err:
            self.error = err

    def outcome(self) -> tuple[str, str]:
        if self.error is not None:
            raise self.error
        return ("sent", "") if self.held else ("lost", "")


def backoff_seconds(attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """The wait after the ``attempts``-th failed attempt: exponential, capped, jittered; at least
    the provider's ``retry_after``."""
    base = float(crosssell_settings.RETRY_BASE_SECONDS)
    cap = float(crosssell_settings.RETRY_MAX_SECONDS)
    jitter = (rng or random).uniform(0.5, 1.0)
    wait = min(cap, base * 2 ** (attempts - 1)) * jitter
    return max(wait, retry_after or 0.0)


def rerank(
    message: ScheduledMessage,
    placement: str,
    history: CustomerHistory | None = None,
    reads: SharedReads | None = None,
    arm: Treatment | None = None,
) -> list[Any]:
    """The recommendations of ``message`` computed now, without anything the customer bought since.

    ``history``: the customer's purchases and consumption read with the chunk's (else read here);
    ``reads``: the items and pair counts the chunk's earlier messages read; ``arm``: the
    customer's experiment arms read with the chunk's (else read here).
    """
    from ..surfaces import serve

    step = message.step
    if history is None:
        history = serve.histories(message.store_id, [message.customer_id])[message.customer_id]
    if step.delay <= ORDER_CONTEXT:
        recs = serve.for_order_from(message.order, history, limit=step.limit, placement=placement, reads=reads, arm=arm)
    else:
        recs = serve.for_customer_from(
            message.customer, history, limit=step.limit, placement=placement, reads=reads, arm=arm
        )
    if step.skip_if_bought:
        since = history.bought_since(message.order.placed_at)
        recs = [rec for rec in recs if rec.item.pk not in since]
    return recs[: step.limit]


def mark_sent(
    message: ScheduledMessage, token: str, channel: str, outgoing: Any, result: Any, recommendations: list[Any]
) -> bool:
    """Record the send and its impressions together (both or neither), if the claim still holds."""
    from ..surfaces import serve

    impressions = list(outgoing.meta.get("impressions", []))
    # what the message showed (an SMS shows fewer than it was given)
    shown = [i.item_id for i in impressions] or [rec.item.pk for rec in recommendations]
    fields = {
        "status": Status.SENT,
        "sent_at": timezone.now(),
        "sent_channel": channel,
        "sent_items": shown,
        "provider_message_id": (result.provider_message_id or "")[:200],
        "attempts": message.attempts + 1,
        "lease_until": None,
        "last_error": "",
    }
    held = None
    if connection.vendor == "postgresql":
        try:
            held = _mark_sent_in_one_statement(message, token, fields, impressions)
        except IntegrityError:  # an impression's order, customer or model version was deleted meanwhile
            held = None
    if held is None:
        with transaction.atomic():
            held = finish(message, token, **fields)
            if held:
                serve.record(impressions)
    if not held:
        logger.warning("Follow-up %s was sent but its claim had expired; another worker holds it", message.pk)
    return held


def _mark_sent_in_one_statement(
    message: ScheduledMessage, token: str, fields: dict[str, Any], impressions: list[Any]
) -> bool:
    """PostgreSQL: :func:`mark_sent` in one statement, so one round trip. The conditional UPDATE
    and the INSERT of the impressions are two parts of one statement, atomic like a transaction
    (both or neither); the impressions are inserted only if the UPDATE matched (the claim held),
    and a key already written is updated like in :func:`~crosssell_plugin.tracking.save_impressions`.
    Raises ``IntegrityError`` (nothing written) when an impression cannot be inserted."""
    from ..models import Impression

    # only quoted table and column names of the models are put in the text; every value is a parameter
    quote = connection.ops.quote_name
    fields = {**fields, "updated_at": timezone.now()}
    meta = ScheduledMessage._meta
    assignments, params = [], []
    for name, value in fields.items():
        model_field = meta.get_field(name)
        assignments.append(f"{quote(model_field.column)} = %s")
        params.append(model_field.get_db_prep_save(value, connection))
    pk_column = quote(meta.pk.column)
    sql = (
        f"WITH claimed AS (UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {pk_column} = %s AND {quote(meta.get_field('status').column)} = %s "
        f"AND {quote(meta.get_field('claimed_by').column)} = %s RETURNING {pk_column})"
    )
    params += [message.pk, Status.CLAIMED.value, token]
    if impressions:
        columns = [f for f in Impression._meta.concrete_fields if not f.primary_key]
        names = ", ".join(quote(f.column) for f in columns)
        row = "(" + ", ".join(f"CAST(%s AS {f.cast_db_type(connection)})" for f in columns) + ")"
        for impression in impressions:
            impression._prepare_related_fields_for_save(operation_name="mark_sent")
            params += [f.get_db_prep_save(f.pre_save(impression, True), connection) for f in columns]
        updated = [quote(Impression._meta.get_field(name).column) for name in ("reason", "score")]
        updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in updated)
        sql += (
            f", shown AS (INSERT INTO {quote(Impression._meta.db_table)} ({names}) "  # noqa: S608
            f"SELECT * FROM (VALUES {', '.join([row] * len(impressions))}) AS v "
            f"WHERE EXISTS (SELECT 1 FROM claimed) "
            f"ON CONFLICT ({quote(Impression._meta.get_field('key').column)}) DO UPDATE SET {updates})"
        )
    sql += " SELECT count(*) FROM claimed"
    with connection.cursor() as cursor:
        if connection.in_atomic_block:  # a savepoint, so that an error leaves the caller's transaction usable
            with transaction.atomic():
                cursor.execute(sql, params)
                return bool(cursor.fetchone()[0])
        cursor.execute(sql, params)
        return bool(cursor.fetchone()[0])


def withdraw_consent(message: ScheduledMessage, channel: str) -> None:
    """The provider says the customer opted out: record it and tell everyone."""
    CustomerConsent.objects.update_or_create(
        customer=message.customer,
        channel=channel,
        defaults={"granted": False, "source": f"{channel} provider opt-out", "recorded_at": timezone.now()},
    )
    consent_withdrawn.send(sender=ScheduledMessage, customer=message.customer, channel=channel, source="provider")


# --- a run --------------------------------------------------------------------------------------


def dispatch_due(batch_size: int | None = None, worker_id: str | None = None) -> DispatchReport:
    """Claim up to ``batch_size`` due follow-ups (``DISPATCH_BATCH_SIZE``) and handle each once."""
    started = time.perf_counter()
    run = _Run(worker_id or default_worker_id())
    messages = claim(batch_size or crosssell_settings.DISPATCH_BATCH_SIZE, run.token, timezone.now())
    run.report.claimed = len(messages)
    for chunk in chunks(messages):
        run.prepare(chunk)
        for message in chunk:
            run.handle(message)
    run.report.seconds = time.perf_counter() - started
    if messages:
        logger.info("Follow-ups dispatched by %s: %s", run.report.worker_id, run.report)
    return run.report


def dispatch_until_empty(
    batch_size: int | None = None, worker_id: str | None = None, max_seconds: float | None = None
) -> list[DispatchReport]:
    """Run :func:`dispatch_due` until a run claims nothing (or ``max_seconds`` have passed)."""
    started = time.monotonic()
    reports = []
    while True:
        report = dispatch_due(batch_size, worker_id)
        reports.append(report)
        if not report.claimed or (max_seconds is not None and time.monotonic() - started >= max_seconds):
            return reports
