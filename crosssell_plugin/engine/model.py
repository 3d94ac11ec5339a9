"""The hybrid recommender: several item-to-item signals blended per task.

Signals (each an items x items matrix or vector, all built from arrays, no Django):

* ``copurchase``: asymmetric-cosine co-purchase, top-K (scales to 100k+ items);
* ``ease``: the closed-form linear item model, when the catalogue fits in memory;
* ``sequence``: what buyers of X buy next (directional, decayed by steps);
* ``content``: TF-IDF neighbours (new items, guests);
* ``popularity``: time-decayed popularity (a prior for sparse requests).

A request is the customer's history (oldest first), an optional trigger (the item just
bought) and the task. History items are weighted by recency; the trigger counts more. Each
signal's scores are scaled to [0, 1] per request and blended with the task's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import scipy.sparse as sp

from .content import ItemText, content_neighbours, structured_tokens, tfidf
from .interactions import Interactions
from .similarity import cooccurrence_with_counts, ease, transitions_with_counts


class Task(StrEnum):
    POST_PURCHASE = "post_purchase"  # history + the item just bought
    NEXT_ORDER = "next_order"  # history only
    ITEM_TO_ITEM = "item_to_item"  # the trigger only (guest, item page)


SIGNALS = ("copurchase", "ease", "sequence", "content", "popularity")

DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    Task.POST_PURCHASE: {"copurchase": 0.5, "ease": 1.0, "sequence": 1.0, "content": 0.1, "popularity": 0.1},
    Task.NEXT_ORDER: {"copurchase": 0.5, "ease": 1.0, "sequence": 0.5, "content": 0.1, "popularity": 0.1},
    Task.ITEM_TO_ITEM: {"copurchase": 1.0, "ease": 0.5, "sequence": 1.0, "content": 0.2, "popularity": 0.05},
}


@dataclass(frozen=True)
class Params:
    copurchase_k: int = 200
    copurchase_alpha: float = 0.5
    ease_lambda: float = 200.0
    #: above this many items EASE (dense, n^2 memory) is skipped; co-purchase carries the load
    ease_max_items: int = 12_000
    sequence_window: int = 5
    sequence_decay: float = 0.6
    sequence_beta: float = 0.5
    content_k: int = 50
    #: a history item ``n`` purchases back counts 0.5^(n / half_life) as much as the latest
    history_half_life: float = 8.0
    #: how much the trigger counts relative to the latest history item
    trigger_weight: float = 3.0
    popularity_half_life_days: float = 30.0
    weights: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_WEIGHTS.items()}
    )


@dataclass
class Request:
    history: Sequence[int] = ()
    trigger: int | None = None
    task: str = Task.POST_PURCHASE
    extra: dict[str, np.ndarray] | None = None


class HybridModel:
    """A fitted model. ``recommend`` is pure numpy on the fitted matrices (no I/O)."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        self.n_items = 0
        self.copurchase: sp.csr_matrix | None = None
        #: customers who bought both items, on the pairs kept in ``copurchase``
        self.copurchase_counts: sp.csr_matrix | None = None
        self.ease: np.ndarray | None = None
        self.sequence: sp.csr_matrix | None = None
        #: customers who bought column j soon after row i, on the pairs kept in ``sequence``
        self.sequence_counts: sp.csr_matrix | None = None
        self.content: sp.csr_matrix | None = None
        #: each item's structured attributes (person:..., tag:..., level:...), for explanations
        self.item_tokens: list[frozenset[str]] | None = None
        self.popularity: np.ndarray | None = None
        self.item_counts: np.ndarray | None = None

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, data: Interactions, items: Sequence[ItemText] | None = None) -> HybridModel:
        p = self.params
        self.n_items = data.n_items
        self.item_counts = data.item_counts
        self.copurchase, self.copurchase_counts = cooccurrence_with_counts(
            data, k=p.copurchase_k, alpha=p.copurchase_alpha
        )
        self.ease = ease(data, lam=p.ease_lambda) if 0 < data.n_items <= p.ease_max_items else None
        self.sequence, self.sequence_counts = transitions_with_counts(
            data, window=p.sequence_window, decay=p.sequence_decay, beta=p.sequence_beta
        )
        if items:
            if len(items) != data.n_items:
                raise ValueError(f"{len(items)} item descriptions for {data.n_items} items")
            self.content = content_neighbours(tfidf(items)[0], k=p.content_k)
            self.item_tokens = [structured_tokens(item) for item in items]
        self.popularity = _decayed_popularity(data, p.popularity_half_life_days)
        return self

    # -- scoring ---------------------------------------------------------------------------

    def _request_vector(self, request: Request) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        history = [] if request.task == Task.ITEM_TO_ITEM else [i for i in request.history if 0 <= i < self.n_items]
        idx, weights = [], []
        for age, item in enumerate(reversed(history)):
            idx.append(item)
            weights.append(0.5 ** (age / p.history_half_life))
        if request.trigger is not None and 0 <= request.trigger < self.n_items and request.task != Task.NEXT_ORDER:
            idx.append(request.trigger)
            weights.append(p.trigger_weight)
        if not idx:
            return np.array([], np.int32), np.array([], np.float32)
        # the same item twice: keep its strongest weight
        merged: dict[int, float] = {}
        for i, w in zip(idx, weights, strict=True):
            merged[i] = max(merged.get(i, 0.0), w)
        return np.fromiter(merged, np.int32), np.fromiter(merged.values(), np.float32)

    def signal_scores(self, request: Request) -> dict[str, np.ndarray]:
        """Each signal's raw scores for every item (before scaling and blending).

        ``request.extra`` adds raw scores to a signal (incremental co-purchase counts recorded
        since the model was trained).
        """
        idx, w = self._request_vector(request)
        out: dict[str, np.ndarray] = {}
        for name, matrix in (("copurchase", self.copurchase), ("sequence", self.sequence), ("content", self.content)):
            if matrix is not None and len(idx):
                out[name] = (
                    np.asarray(w @ matrix[idx].toarray()).ravel() if len(idx) < 64 else _sparse_dot(w, idx, matrix)
                )
        if self.ease is not None and len(idx):
            out["ease"] = w @ self.ease[idx]
        if self.popularity is not None:
            out["popularity"] = self.popularity
        for name, extra in (request.extra or {}).items():
            out[name] = out[name] + extra if name in out else extra
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
        mask[[i for i in exclude if 0 <= i < self.n_items]] = False
        mask[[i for i in request.history if 0 <= i < self.n_items]] = False
        if request.trigger is not None and 0 <= request.trigger < self.n_items:
            mask[request.trigger] = False
        candidates = np.flatnonzero(mask & (scores > 0))
        if len(candidates) > k:  # keep everything tied with the k-th best, then order exactly
            kth = -np.partition(-scores[candidates], k - 1)[k - 1]
            candidates = candidates[scores[candidates] >= kth]
        order = np.lexsort((candidates, -scores[candidates]))[:k]
        return [(int(candidates[i]), float(scores[candidates[i]])) for i in order]


def _sparse_dot(w: np.ndarray, idx: np.ndarray, matrix: sp.csr_matrix) -> np.ndarray:
    row = sp.csr_matrix((w, (np.zeros(len(idx), np.int32), idx)), shape=(1, matrix.shape[0]))
    return np.asarray((row @ matrix).toarray()).ravel()


def _decayed_popularity(data: Interactions, half_life_days: float) -> np.ndarray:
    if not len(data):
        return np.zeros(data.n_items, np.float32)
    age_days = (data.end_time - data.times) / 86_400.0
    w = np.power(0.5, age_days / max(half_life_days, 1e-6)).astype(np.float32)
    return np.bincount(data.items, weights=w, minlength=data.n_items).astype(np.float32)
