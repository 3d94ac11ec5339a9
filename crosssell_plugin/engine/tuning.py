"""Blend weights chosen on held-out data, per task, never set by hand.

``holdout`` keeps each customer's latest purchases apart (their next few items), ``tune`` fits
the signals on the rest and searches, per task, the blend that recalls most of the held-out
items at k; ``fit_tuned`` then refits on everything with the chosen weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .content import ItemText
from .interactions import Interactions
from .model import SIGNALS, HybridModel, Params, Request, Task

logger = logging.getLogger(__name__)

MULTIPLIERS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
HALF_LIVES = (2.0, 8.0, 32.0)


@dataclass(frozen=True)
class HeldOut:
    task: str
    history: tuple[int, ...]
    trigger: int | None
    targets: frozenset[int]


def holdout(data: Interactions, *, max_users: int = 1500, seed: int = 0) -> tuple[Interactions, list[HeldOut]]:
    """Split off each sampled customer's last purchases: min(5, n/5) items of n (n >= 3)."""
    first = data.first_occurrences()
    users, items = first.users, first.items
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    eligible = [(s, e) for s, e in zip(starts, ends, strict=True) if e - s >= 3]
    rng = np.random.default_rng(seed)
    if len(eligible) > max_users:
        eligible = [eligible[i] for i in sorted(rng.choice(len(eligible), max_users, replace=False))]
    keep = np.ones(len(users), bool)
    requests: list[HeldOut] = []
    for s, e in eligible:
        n_out = min(5, max(1, (e - s) // 5))
        cut = e - n_out
        keep[cut:e] = False
        history, later = tuple(int(i) for i in items[s:cut]), [int(i) for i in items[cut:e]]
        trigger, rest = later[0], frozenset(later[1:])
        requests.append(HeldOut(Task.NEXT_ORDER, history, None, frozenset(later)))
        if rest:
            requests.append(HeldOut(Task.POST_PURCHASE, history, trigger, rest))
            requests.append(HeldOut(Task.ITEM_TO_ITEM, (), trigger, rest))
    # drop the held-out events (every occurrence of those user-item pairs) from training
    held = {(int(users[i]), int(items[i])) for i in np.flatnonzero(~keep)}
    mask = np.array([(int(u), int(i)) not in held for u, i in zip(data.users, data.items, strict=True)], bool)
    train = Interactions(
        data.users[mask], data.items[mask], data.times[mask], data.weights[mask], data.n_users, data.n_items
    )
    return train, requests


def _recall(scores: np.ndarray, target_mask: np.ndarray, n_targets: int, k: int) -> float:
    top = np.argpartition(-scores, k)[:k] if len(scores) > k else slice(None)
    return float(target_mask[top].sum()) / min(k, n_targets)


@dataclass
class _Prepared:
    signals: np.ndarray  # candidates x signals, each column scaled to max 1
    target_mask: np.ndarray  # which candidates are targets
    n_targets: int


def _prepare(model: HybridModel, held: HeldOut, pool: int = 200) -> _Prepared | None:
    request = Request(history=held.history, trigger=held.trigger, task=held.task)
    raw = model.signal_scores(request)
    excluded = set(held.history) | ({held.trigger} if held.trigger is not None else set())
    cols, cand = [], set()
    for name in SIGNALS:
        scores = raw.get(name)
        if scores is None:
            cols.append(None)
            continue
        top = float(scores.max(initial=0.0))
        scaled = np.maximum(scores, 0) / top if top > 0 else np.zeros_like(scores)
        cols.append(scaled)
        best = np.argpartition(-scaled, min(pool, len(scaled) - 1))[:pool]
        cand.update(int(i) for i in best if scaled[i] > 0)
    cand -= excluded
    if not cand or not held.targets:
        return None
    candidates = np.array(sorted(cand), np.int64)
    matrix = np.stack([c[candidates] if c is not None else np.zeros(len(candidates)) for c in cols], axis=1)
    target_mask = np.isin(candidates, np.fromiter(held.targets, np.int64))
    return _Prepared(matrix.astype(np.float32), target_mask, len(held.targets))


def _search(prepared: list[_Prepared], start: dict[str, float], k: int) -> tuple[dict[str, float], float]:
    weights = np.array([start.get(s, 0.0) for s in SIGNALS], np.float32)

    def score(w: np.ndarray) -> float:
        if not w.any():
            return -1.0
        return float(np.mean([_recall(p.signals @ w, p.target_mask, p.n_targets, k) for p in prepared]))

    best = score(weights)
    for _ in range(3):  # coordinate ascent, a few sweeps
        improved = False
        for j in range(len(SIGNALS)):
            for m in MULTIPLIERS:
                trial = weights.copy()
                trial[j] = m
                value = score(trial)
                if value > best + 1e-9:
                    best, weights, improved = value, trial, True
        if not improved:
            break
    return {s: float(w) for s, w in zip(SIGNALS, weights, strict=True)}, best


def tune(
    data: Interactions, items: Sequence[ItemText] | None = None, params: Params | None = None, *, k: int = 10
) -> tuple[Params, dict[str, float]]:
    """Choose ``history_half_life`` and each task's blend weights on a hold-out of ``data``."""
    params = params or Params()
    train, held = holdout(data)
    if not held:
        return params, {}
    best_params, best_total, report = params, -1.0, {}
    model = HybridModel(params).fit(train, items)  # the half-life only changes how requests are read
    for half_life in HALF_LIVES:
        candidate = replace(params, history_half_life=half_life)
        model.params = candidate
        weights, scores = {}, {}
        for task in Task:
            prepared = [p for h in held if h.task == task if (p := _prepare(model, h)) is not None]
            if prepared:
                weights[task.value], scores[task.value] = _search(prepared, params.weights[task.value], k)
        total = sum(scores.values())
        logger.info("tuning half_life=%s: %s", half_life, {t: round(v, 4) for t, v in scores.items()})
        if total > best_total:
            best_total = total
            best_params = replace(candidate, weights={**params.weights, **weights})
            report = {f"{t}_recall": v for t, v in scores.items()}
    return best_params, report


def fit_tuned(
    data: Interactions, items: Sequence[ItemText] | None = None, params: Params | None = None
) -> tuple[HybridModel, dict[str, float]]:
    chosen, report = tune(data, items, params)
    return HybridModel(chosen).fit(data, items), report
