"""The hybrid recommender: several item-to-item signals blended per task.

Signals (each a sparse items x items matrix, top-K per row, or a vector; built from arrays,
no Django):

* ``basket``: same-order co-occurrence (what goes in the same basket), each order weighted
  down by its size (a 300-line wholesale order says less about any pair than a 3-line one),
  asymmetric-cosine normalised;
* ``copurchase``: customer-level co-purchase (bought by the same customers, any order);
* ``ease``: the closed-form linear item model, when the catalogue fits in memory, kept as
  sparse top-K rows so that a request never reads a dense row;
* ``ease_recent``: the same model fitted on recency-weighted data (what a customer bought lately
  counts more), for what goes with the latest purchases;
* ``sequence``: what buyers of X buy in a *later* order (directional, decayed by orders);
* ``content``: TF-IDF neighbours (new items, guests);
* ``popularity`` (time-decayed buyers) and ``trending`` (buyers over the last days): priors.

A request is the customer's history (oldest first, with the times of its orders), an optional
trigger (the item just bought) and the task. Every item-item signal gives two features, one
read from the trigger's row and one from the history's rows weighted by recency (per order
rank or per day, a half-life chosen per task); a history is capped to its heaviest
``max_history`` items. Each feature is scaled to [0, 1] per request and the features are
blended with per-task weights that :mod:`.tuning` chooses on held-out orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import scipy.sparse as sp

from .content import ItemText, content_neighbours, structured_tokens, tfidf
from .interactions import Interactions
from .similarity import (
    basket_cooccurrence,
    cooccurrence,
    customer_pairs,
    ease_recent_top_k,
    ease_top_k,
    pattern_values,
    transitions_with_counts,
)


class Task(StrEnum):
    POST_PURCHASE = "post_purchase"  # history + the item just bought
    NEXT_ORDER = "next_order"  # history only
    ITEM_TO_ITEM = "item_to_item"  # the trigger only (guest, item page)


#: item-item signals; each gives a ``<signal>:trigger`` and a ``<signal>:history`` feature
ITEM_SIGNALS = ("basket", "copurchase", "ease", "ease_recent", "sequence", "content")
#: per-item priors, the same for every request
PRIORS = ("popularity", "trending")
#: signals read from the history only (recency means nothing for a lone trigger)
HISTORY_ONLY = frozenset({"ease_recent"})
#: every feature a blend can weigh, in a fixed order
FEATURES = (
    tuple(f"{s}:trigger" for s in ITEM_SIGNALS if s not in HISTORY_ONLY)
    + tuple(f"{s}:history" for s in ITEM_SIGNALS)
    + PRIORS
)


def task_features(task: str) -> tuple[str, ...]:
    """The features a task can use: no history for item_to_item, no trigger for next_order."""
    if task == Task.ITEM_TO_ITEM:
        return tuple(f for f in FEATURES if not f.endswith(":history"))
    if task == Task.NEXT_ORDER:
        return tuple(f for f in FEATURES if not f.endswith(":trigger"))
    return FEATURES


def _weights(trigger: dict[str, float], history: dict[str, float], priors: dict[str, float]) -> dict[str, float]:
    out = {f"{s}:trigger": w for s, w in trigger.items()}
    out.update({f"{s}:history": w for s, w in history.items()})
    out.update(priors)
    return out


DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    Task.POST_PURCHASE: _weights(
        {"basket": 1.0, "copurchase": 0.5, "ease": 0.5, "sequence": 0.25, "content": 0.1},
        {"basket": 0.25, "copurchase": 0.25, "ease": 0.5, "sequence": 0.25, "content": 0.05},
        {"popularity": 0.1, "trending": 0.1},
    ),
    Task.NEXT_ORDER: _weights(
        {},
        {"basket": 0.5, "copurchase": 0.5, "ease": 1.0, "sequence": 0.5, "content": 0.1},
        {"popularity": 0.1, "trending": 0.1},
    ),
    Task.ITEM_TO_ITEM: _weights(
        {"basket": 1.0, "copurchase": 0.5, "ease": 0.25, "sequence": 0.25, "content": 0.2},
        {},
        {"popularity": 0.05, "trending": 0.05},
    ),
}

#: how a history is read per task: ("orders", h) = an order h orders back counts half;
#: ("days", h) = an order h days older than the latest counts half
DEFAULT_DECAY: dict[str, tuple[str, float]] = {
    Task.POST_PURCHASE: ("orders", 4.0),
    Task.NEXT_ORDER: ("orders", 4.0),
    Task.ITEM_TO_ITEM: ("orders", 4.0),
}


@dataclass(frozen=True)
class Params:
    copurchase_k: int = 200
    copurchase_alpha: float = 0.5
    basket_k: int = 200
    basket_alpha: float = 0.5
    #: an order of n distinct items adds 1 / n^basket_size_power to each of its pairs
    basket_size_power: float = 0.5
    ease_lambda: float = 200.0
    #: above this many items EASE (dense, n^2 memory while fitting) is skipped
    ease_max_items: int = 12_000
    #: EASE is kept as this many strongest positive entries per row, and the most negative ones
    ease_k: int = 200
    ease_negative_k: int = 100
    #: ``ease_recent`` (EASE on recency-weighted data): an item bought this many orders before the
    #: customer's latest counts half; 0 = not fitted (the default: on the data sets of
    #: ``bench.quality`` it moved recall by less than its interval, up on some tasks, down on others)
    ease_recent_half_life: float = 0.0
    sequence_window: int = 5
    sequence_decay: float = 0.6
    sequence_beta: float = 0.5
    content_k: int = 50
    popularity_half_life_days: float = 30.0
    #: the trending prior counts the buyers of the last ``trending_days`` of the data
    trending_days: float = 14.0
    #: a request reads at most this many history items, the heaviest (most recent, most bought)
    max_history: int = 200
    weights: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    )
    decay: dict[str, tuple[str, float]] = field(default_factory=lambda: dict(DEFAULT_DECAY))


@dataclass
class Request:
    #: item indices the customer bought (or watched), oldest first; repeats allowed
    history: Sequence[int] = ()
    trigger: int | None = None
    task: str = Task.POST_PURCHASE
    extra: dict[str, np.ndarray] | None = None
    #: unix seconds of each history item (items of one order share a time); None = each item
    #: is its own order, in the given order
    history_times: Sequence[float] | None = None


def history_weights(
    history: Sequence[int],
    times: Sequence[float] | None,
    decay: tuple[str, float],
    n_items: int,
    max_items: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, weights) of a history: each occurrence weighs 0.5^(age / half-life), age in
    orders back (the latest order = 0) or in days before the latest order; an item's weights
    add up over its orders; only the ``max_items`` heaviest are kept."""
    items = np.asarray(history, np.int64)
    if not len(items):
        return np.array([], np.int32), np.array([], np.float32)
    if times is None or len(times) != len(items):
        when = np.arange(len(items), dtype=np.float64)
    else:
        when = np.asarray(times, np.float64)
    ok = (items >= 0) & (items < n_items)
    items, when = items[ok], when[ok]
    if not len(items):
        return np.array([], np.int32), np.array([], np.float32)
    mode, half_life = decay
    half_life = max(float(half_life), 1e-6)
    if mode == "days":
        age = (when.max() - when) / 86_400.0
    else:  # orders back: distinct times, latest = 0
        distinct = np.unique(when)
        age = (len(distinct) - 1 - np.searchsorted(distinct, when)).astype(np.float64)
    w = np.power(0.5, age / half_life)
    total = np.bincount(items, weights=w, minlength=n_items)
    unique = np.flatnonzero(total)
    total = total[unique]
    if len(unique) > max_items:
        keep = np.lexsort((unique, -total))[:max_items]
        unique, total = unique[keep], total[keep]
    return unique.astype(np.int32), total.astype(np.float32)


def _rows_dot(w: np.ndarray, idx: np.ndarray, matrix: sp.csr_matrix) -> np.ndarray:
    """``w @ matrix[idx]`` as a dense vector, reading only the rows' stored entries."""
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    out = np.zeros(matrix.shape[1], np.float32)
    if len(idx) == 1:
        i = int(idx[0])
        s, e = indptr[i], indptr[i + 1]
        out[indices[s:e]] = data[s:e] * w[0]
        return out
    row = sp.csr_matrix((w, (np.zeros(len(idx), np.int32), idx)), shape=(1, matrix.shape[0]))
    return np.asarray((row @ matrix).toarray(), np.float32).ravel()


class HybridModel:
    """A fitted model. ``recommend`` is pure numpy on the fitted matrices (no I/O)."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        self.n_items = 0
        self.basket: sp.csr_matrix | None = None
        self.copurchase: sp.csr_matrix | None = None
        #: customers who bought both items, on the pairs kept in ``copurchase`` or ``basket``
        self.copurchase_counts: sp.csr_matrix | None = None
        self.ease: sp.csr_matrix | None = None
        self.ease_recent: sp.csr_matrix | None = None
        self.sequence: sp.csr_matrix | None = None
        #: customers who bought column j in an order after one with row i, on the pairs kept
        self.sequence_counts: sp.csr_matrix | None = None
        self.content: sp.csr_matrix | None = None
        #: each item's structured attributes (person:..., tag:..., level:...), for explanations
        self.item_tokens: list[frozenset[str]] | None = None
        self.popularity: np.ndarray | None = None
        self.trending: np.ndarray | None = None
        self.item_counts: np.ndarray | None = None

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, data: Interactions, items: Sequence[ItemText] | None = None) -> HybridModel:
        p = self.params
        self.n_items = data.n_items
        self.item_counts = data.item_counts
        pairs = customer_pairs(data)
        self.copurchase = cooccurrence(data, k=p.copurchase_k, alpha=p.copurchase_alpha, pairs=pairs)
        self.basket = basket_cooccurrence(data, k=p.basket_k, alpha=p.basket_alpha, size_power=p.basket_size_power)
        self.copurchase_counts = pattern_values(pairs, (self.copurchase + self.basket).tocsr())
        fits = 0 < data.n_items <= p.ease_max_items
        self.ease = (
            ease_top_k(data, lam=p.ease_lambda, k=p.ease_k, negative=p.ease_negative_k, pairs=pairs) if fits else None
        )
        del pairs
        self.ease_recent = (
            ease_recent_top_k(
                data,
                half_life_orders=p.ease_recent_half_life,
                lam=p.ease_lambda,
                k=p.ease_k,
                negative=p.ease_negative_k,
            )
            if fits and p.ease_recent_half_life > 0
            else None
        )
        self.sequence, self.sequence_counts = transitions_with_counts(
            data, window=p.sequence_window, decay=p.sequence_decay, beta=p.sequence_beta
        )
        if items:
            if len(items) != data.n_items:
                raise ValueError(f"{len(items)} item descriptions for {data.n_items} items")
            self.content = content_neighbours(tfidf(items)[0], k=p.content_k)
            self.item_tokens = [structured_tokens(item) for item in items]
        self.popularity = _decayed_popularity(data, p.popularity_half_life_days)
        self.trending = _recent_buyers(data, p.trending_days)
        return self

    # -- scoring ---------------------------------------------------------------------------

    def matrices(self) -> dict[str, sp.csr_matrix]:
        return {
            name: m
            for name in ITEM_SIGNALS
            if (m := getattr(self, name, None)) is not None and m.shape[0] == self.n_items
        }

    def history_vector(self, request: Request, decay: tuple[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The (item indices, weights) a request's history is read as."""
        if request.task == Task.ITEM_TO_ITEM:
            return np.array([], np.int32), np.array([], np.float32)
        mode, half_life = decay or self.params.decay.get(str(request.task), DEFAULT_DECAY[Task.POST_PURCHASE])
        return history_weights(
            request.history, request.history_times, (str(mode), float(half_life)), self.n_items, self.params.max_history
        )

    def signal_scores(self, request: Request, decay: tuple[str, float] | None = None) -> dict[str, np.ndarray]:
        """Each feature's raw scores for every item (before scaling and blending).

        ``request.extra`` adds raw scores to a signal (pair counts recorded since the model was
        trained): to its trigger feature when the request has a trigger, else to its history one.
        """
        out: dict[str, np.ndarray] = {}
        matrices = self.matrices()
        trigger = request.trigger
        use_trigger = trigger is not None and 0 <= trigger < self.n_items and request.task != Task.NEXT_ORDER
        idx, w = self.history_vector(request, decay)
        row = sp.csr_matrix((w, idx, np.array([0, len(idx)])), shape=(1, self.n_items)) if len(idx) else None
        for name, matrix in matrices.items():
            if use_trigger and name not in HISTORY_ONLY:
                out[f"{name}:trigger"] = _rows_dot(np.ones(1, np.float32), np.array([trigger]), matrix)
            if row is not None:
                out[f"{name}:history"] = np.asarray((row @ matrix).toarray(), np.float32).ravel()
        if self.popularity is not None:
            out["popularity"] = self.popularity
        if self.trending is not None:
            out["trending"] = self.trending
        for name, extra in (request.extra or {}).items():
            key = name if name in FEATURES else f"{name}:{'trigger' if use_trigger else 'history'}"
            out[key] = out[key] + extra if key in out else extra
        return out

    def score(self, request: Request) -> np.ndarray:
        weights = self.params.weights.get(str(request.task), DEFAULT_WEIGHTS[Task.POST_PURCHASE])
        total = np.zeros(self.n_items, np.float32)
        for name, scores in self.signal_scores(request).items():
            weight = weights.get(name, 0.0)
            if weight:
                top = float(scores.max(initial=0.0))
                if top > 0:
                    total += (weight / top) * np.maximum(scores, 0).astype(np.float32)
        return total

    def recommend(
        self, request: Request, k: int = 10, exclude: Sequence[int] = (), allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` best items with their blended scores, best first; deterministic."""
        scores = self.score(request)
        mask = np.ones(self.n_items, bool) if allowed is None else allowed.copy()
        blocked = np.asarray(exclude, np.int64).ravel()
        mask[blocked[(blocked >= 0) & (blocked < self.n_items)]] = False
        history = np.asarray(request.history, np.int64)
        mask[history[(history >= 0) & (history < self.n_items)]] = False
        if request.trigger is not None and 0 <= request.trigger < self.n_items:
            mask[request.trigger] = False
        candidates = np.flatnonzero(mask & (scores > 0))
        if len(candidates) > k:  # keep everything tied with the k-th best, then order exactly
            kth = -np.partition(-scores[candidates], k - 1)[k - 1]
            candidates = candidates[scores[candidates] >= kth]
        order = np.lexsort((candidates, -scores[candidates]))[:k]
        return [(int(candidates[i]), float(scores[candidates[i]])) for i in order]


def _decayed_popularity(data: Interactions, half_life_days: float) -> np.ndarray:
    if not len(data):
        return np.zeros(data.n_items, np.float32)
    age_days = (data.end_time - data.times) / 86_400.0
    w = np.power(0.5, age_days / max(half_life_days, 1e-6)).astype(np.float32)
    return np.bincount(data.items, weights=w, minlength=data.n_items).astype(np.float32)


def _recent_buyers(data: Interactions, days: float) -> np.ndarray:
    """Distinct buyers of each item over the last ``days`` of the data."""
    if not len(data):
        return np.zeros(data.n_items, np.float32)
    recent = data.times >= data.end_time - days * 86_400.0
    key = np.unique(data.users[recent].astype(np.int64) * data.n_items + data.items[recent])
    return np.bincount(key % data.n_items, minlength=data.n_items).astype(np.float32)
