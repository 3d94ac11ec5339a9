"""Explanations: the first available ranked items, each with its reasons in data and in plain English."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..engine.content import structured_tokens
from ..engine.explain import Reason, explain
from ..engine.model import HybridModel, Request, Task
from ..engine.rules import CatalogArrays
from ..models import Item, Order, Store
from .history import SharedReads
from .loading import LoadedModel
from .result import Recommendation
from .training import item_text


@dataclass
class _Served:
    loaded: LoadedModel
    request: Request
    catalog: CatalogArrays
    #: the task asked for (the request's may differ: a post-purchase call whose trigger is newer
    #: than the model is scored from the history alone)
    task: str = ""
    #: recommended item pk -> {request item pk: orders that paired them since trained_until}
    recent_together: dict[int, dict[int, int]] = field(default_factory=dict)


def _request_items(request: Request, model: HybridModel) -> list[int]:
    """The model indices a request scores from, as the engine reads it (the heaviest history
    items, in the order they were last bought, then the trigger)."""
    items: list[int] = []
    if request.task != Task.ITEM_TO_ITEM:
        kept = set(model.history_vector(request)[0].tolist())
        latest = list(dict.fromkeys(reversed(list(request.history))))[::-1]
        items = [i for i in latest if i in kept]
    if request.trigger is not None and request.task != Task.NEXT_ORDER:
        items.append(request.trigger)
    return list(dict.fromkeys(items))


# --- explanations -------------------------------------------------------------------------


def _explained(
    store: Store,
    served: _Served,
    ranked: Sequence[tuple[int, float]],
    placement: str,
    limit: int,
    reads: SharedReads | None = None,
) -> list[Recommendation]:
    """The first ``limit`` of ``ranked`` that are available now, explained.

    Availability is read here, with the items themselves: the model's catalog facts are as of
    the last check (``MODEL_CHECK_SECONDS``), so an item withdrawn since is skipped and the
    next ranked one takes its place.
    """
    loaded = served.loaded
    # the candidates and (usually) the evidence of their reasons, the request's items, in one query
    wanted = [loaded.item_ids[i] for i, _ in ranked] + [
        loaded.item_ids[i] for i in _request_items(served.request, loaded.model)[-50:]
    ]
    items = reads.items(wanted) if reads is not None else Item.objects.for_store(store).defer("raw").in_bulk(wanted)
    ranked = [(i, s) for i, s in ranked if (it := items.get(loaded.item_ids[i])) is not None and it.available][:limit]
    explained = {i: explain(loaded.model, served.request, i, served.catalog) for i, _ in ranked}
    recent = {}
    for i, reasons in explained.items():
        pk = loaded.item_ids[i]
        if served.recent_together.get(pk) and not any(r.signal == "bought_together" for r in reasons):
            reason = _recent_reason(store, loaded, pk, served.recent_together[pk])
            if reason is not None:
                recent[i] = reason
    needed = set()
    for reasons in [*explained.values(), list(recent.values())]:
        for reason in reasons:
            if reason.evidence is not None and 0 <= reason.evidence < len(loaded.item_ids):
                needed.add(loaded.item_ids[reason.evidence])
    needed -= set(items)
    if needed:  # the evidence: the trigger, items in the customer's history
        items.update(
            reads.items(needed) if reads is not None else Item.objects.for_store(store).defer("raw").in_bulk(needed)
        )
    results = []
    for i, score in ranked:
        item = items.get(loaded.item_ids[i])
        if item is None or not item.available:
            continue
        reasons = ([recent[i]] if i in recent else []) + explained[i]
        pairs = [(r, _text(r, item, items, loaded)) for r in reasons[:2]]
        pairs = [(r, t) for r, t in pairs if t]
        results.append(
            Recommendation(
                item=item,
                score=float(score),
                reasons=[r for r, _ in pairs],
                reason_texts=[t for _, t in pairs],
                task=str(served.task),
                placement=placement,
                model_version=loaded.version,
                model_version_pk=loaded.version_pk,
            )
        )
    return results


def _recent_reason(store: Store, loaded: LoadedModel, item_pk: int, sources: dict[int, int]) -> Reason | None:
    """A bought-together reason from orders placed since training: customers, counted in the DB."""
    source = min(sources, key=lambda a: (-sources[a], a))
    orders = Order.objects.for_store(store).filter(lines__item_id=source).filter(lines__item_id=item_pk)
    if loaded.trained_until is not None:
        orders = orders.filter(placed_at__gt=loaded.trained_until)
    customers = orders.values("customer_id").distinct().count()
    if not customers:
        return None
    return Reason("bought_together", evidence=loaded.index[source], count=customers)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_ROLE_ORDER = ("director", "creator", "instructor", "author", "cast")
_ROLE_LABEL = {"cast": "cast member"}


def _text(reason: Reason, item: Item, items: dict[int, Item], loaded: LoadedModel) -> str | None:
    """Plain English for one reason, or None when it cannot be said truthfully any more."""
    evidence = items.get(loaded.item_ids[reason.evidence]) if reason.evidence is not None else None
    if reason.signal == "popular" and reason.count:
        return f"Popular right now ({_plural(reason.count, 'buyer')})"
    if evidence is None:
        return None
    if reason.signal == "bought_together":
        return f"Customers who bought {evidence.title} also bought this ({reason.count})"
    if reason.signal == "bought_next":
        return f"Customers who bought {evidence.title} bought this next ({reason.count})"
    if reason.signal == "next_in_sequence":
        return f"Next in {evidence.title}"
    if reason.signal == "similar":
        return _similar_text(reason.shared, evidence, item)
    return None


def _similar_text(shared: Sequence[str], a: Item, b: Item) -> str | None:
    """The most telling attribute both items have *today* ("Same director: Denis Villeneuve")."""
    both = structured_tokens(item_text(a)) & structured_tokens(item_text(b)) & set(shared)
    people = [t.removeprefix("person:") for t in sorted(both) if t.startswith("person:")]
    best: tuple[int, str] | None = None
    for name in people:
        roles_a, roles_b = _roles(a, name), _roles(b, name)
        display = _display_name(b, name)
        for role in sorted(roles_a & roles_b, key=lambda r: (_rank(r), r)):
            candidate = (_rank(role), f"Same {_ROLE_LABEL.get(role, role)}: {display}")
            best = min(best, candidate) if best else candidate
        if best is None:
            best = (len(_ROLE_ORDER) + 1, f"Also with {display}")
    if best is not None:
        return best[1]
    for token in sorted(both):
        if token.startswith("tag:"):
            value = token.removeprefix("tag:")
            genre_a = any(g.strip().lower() == value for g in a.genres or [])
            genre_b = [g for g in b.genres or [] if g.strip().lower() == value]
            if genre_a and genre_b:
                return f"Same genre: {genre_b[0].strip()}"
            label = next((t.strip() for t in [*(b.tags or []), *(b.genres or [])] if t.strip().lower() == value), value)
            return f"Also tagged {label}"
    for token in sorted(both):
        if token.startswith("level:"):
            return f"Same level: {b.level}"
    return None


def _rank(role: str) -> int:
    return _ROLE_ORDER.index(role) if role in _ROLE_ORDER else len(_ROLE_ORDER)


def _roles(item: Item, name: str) -> set[str]:
    people = item.people or {}
    return {role for role, names in people.items() if any(n.strip().lower() == name for n in names or [])}


def _display_name(item: Item, name: str) -> str:
    for names in (item.people or {}).values():
        for n in names or []:
            if n.strip().lower() == name:
                return n.strip()
    return name
