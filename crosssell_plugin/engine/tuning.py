"""Every knob of the blend chosen on held-out orders, per task, never set by hand.

``holdout`` keeps each sampled customer's latest *whole* orders apart (never part of a basket:
on basket data the last few lines fall inside one order, and tuning on them would learn
"finish this basket" instead of "what comes next"). ``tune`` fits the signals on the rest and
chooses, per task, how the history is read (a half-life in orders or in days) and the weight of
every feature (trigger and history sides of each signal, the priors) that recalls most of the
held-out items at k. ``fit_tuned`` then refits on everything with the chosen knobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from .content import ItemText
from .interactions import Interactions
from .model import FEATURES, HISTORY_ONLY, HybridModel, Params, Request, Task, _rows_dot, task_features

logger = logging.getLogger(__name__)

MULTIPLIERS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
#: how a history may be read: an order h orders back (or h days older) counts half
DECAYS: tuple[tuple[str, float], ...] = (
    ("orders", 1.0),
    ("orders", 3.0),
    ("orders", 10.0),
    ("orders", 1000.0),
    ("days", 14.0),
    ("days", 60.0),
)
#: candidates per held-out request kept for the weight search (the strongest in any feature)
POOL = 200


@dataclass(frozen=True)
class HeldOut:
    task: str
    history: tuple[int, ...]
    history_times: tuple[float, ...]
    trigger: int | None
    targets: frozenset[int]


def holdout(
    data: Interactions, *, max_users: int = 1000, seed: int = 0, min_items: int = 5
) -> tuple[Interactions, list[HeldOut]]:
    """Split off each sampled customer's latest whole orders (customers with 2+ orders).

    The latest orders are held out, newest first, until they hold ``min(min_items, n / 5)`` new
    items (n = the customer's distinct items; at least one order), always leaving one order of
    history. Each held-out set gives a next_order request (history -> its new items) and, with
    a trigger (its first item known to training), post_purchase and item_to_item requests
    (-> its other new items). Every event of a held-out order leaves the training data.
    """
    users, items, times = data.users, data.items, data.times
    if not len(users):
        return data, []
    new_order = np.r_[True, (users[1:] != users[:-1]) | (times[1:] != times[:-1])]
    order_starts = np.flatnonzero(new_order)
    order_user = users[order_starts]
    user_first = np.flatnonzero(np.r_[True, order_user[1:] != order_user[:-1]])
    user_last = np.r_[user_first[1:], len(order_starts)]
    order_ends = np.r_[order_starts[1:], len(users)]
    eligible = [(a, b) for a, b in zip(user_first, user_last, strict=True) if b - a >= 2]
    rng = np.random.default_rng(seed)
    if len(eligible) > max_users:
        eligible = [eligible[i] for i in sorted(rng.choice(len(eligible), max_users, replace=False))]
    keep = np.ones(len(users), bool)
    cut_events: list[tuple[int, int, int]] = []  # (first history event, first held event, end)
    for a, b in eligible:
        first_event, end = int(order_starts[a]), int(order_ends[b - 1])
        distinct = len(set(items[first_event:end].tolist()))
        want = min(min_items, max(1, distinct // 5))
        cut = b - 1
        while True:
            held_start = int(order_starts[cut])
            owned = set(items[first_event:held_start].tolist())
            new = set(items[held_start:end].tolist()) - owned
            if len(new) >= want or cut - 1 <= a:
                break
            cut -= 1
        if not new:
            continue
        keep[held_start:end] = False
        cut_events.append((first_event, held_start, end))
    train = Interactions(users[keep], items[keep], times[keep], data.weights[keep], data.n_users, data.n_items)
    known = np.bincount(train.items, minlength=data.n_items) > 0
    requests: list[HeldOut] = []
    for first_event, held_start, end in cut_events:
        history = tuple(int(i) for i in items[first_event:held_start])
        history_times = tuple(float(t) for t in times[first_event:held_start])
        owned = set(history)
        held = list(dict.fromkeys(int(i) for i in items[held_start:end]))
        fresh = [i for i in held if i not in owned]
        if not fresh:
            continue
        requests.append(HeldOut(Task.NEXT_ORDER, history, history_times, None, frozenset(fresh)))
        trigger = next((i for i in held if known[i]), None)
        if trigger is None:
            continue
        rest = frozenset(fresh) - {trigger}
        if rest:
            requests.append(HeldOut(Task.POST_PURCHASE, history, history_times, trigger, rest))
            requests.append(HeldOut(Task.ITEM_TO_ITEM, (), (), trigger, rest))
    return train, requests


@dataclass
class _Prepared:
    """One task's held-out requests as padded arrays: features x requests x candidates."""

    features: tuple[str, ...]
    values: np.ndarray  # float32 (F, R, P), each feature scaled to max 1 over the catalogue; padding 0
    targets: np.ndarray  # bool (R, P)
    n_targets: np.ndarray  # (R,) min(k, |targets|)


def _scaled(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max(initial=0.0))
    return np.maximum(scores, 0) / top if top > 0 else np.zeros_like(scores)


def _prepare(
    model: HybridModel,
    held: Sequence[HeldOut],
    decays: Sequence[tuple[str, float]],
    k: int,
) -> dict[str, dict[tuple[str, float] | None, _Prepared]]:
    """Every task's held-out requests as arrays, once per way of reading the history
    (item_to_item reads none: its only option is ``None``).

    The candidates of a request are the ``POOL`` items strongest in any feature (under any
    decay), without the history and the trigger; the same for every decay. A history is read
    once for all the tasks that share it.
    """
    matrices = model.matrices()
    priors = {
        name: _scaled(vector)
        for name in ("popularity", "trending")
        if (vector := getattr(model, name, None)) is not None
    }
    n = model.n_items
    rows: dict[str, dict[tuple[str, float] | None, list[tuple[np.ndarray, np.ndarray, int]]]] = {}
    trigger_cache: dict[int, dict[str, np.ndarray]] = {}
    history_cache: dict[int, dict[str, np.ndarray]] = {}  # id(history) -> feature -> (decays x items)
    # every signal side by side: a history is read through all of them in one product
    stacked = sp.hstack(list(matrices.values()), format="csr") if matrices else None
    for h in held:
        task = h.task
        features = task_features(task)
        options: Sequence[tuple[str, float] | None] = (None,) if task == Task.ITEM_TO_ITEM else decays
        per_decay = rows.setdefault(task, {d: [] for d in options})
        common: dict[str, np.ndarray] = dict(priors)
        if h.trigger is not None and task != Task.NEXT_ORDER:
            cached = trigger_cache.get(h.trigger)
            if cached is None:
                one = np.array([h.trigger])
                cached = {
                    f"{name}:trigger": _scaled(_rows_dot(np.ones(1, np.float32), one, m))
                    for name, m in matrices.items()
                    if name not in HISTORY_ONLY
                }
                trigger_cache[h.trigger] = cached
            common.update(cached)
        history_cols: dict[str, np.ndarray] = {}
        if task != Task.ITEM_TO_ITEM and decays and h.history:
            # the tasks of one held-out order share its history tuple: read it once
            history_cols = history_cache.get(id(h.history)) or _history_columns(
                model, h, decays, list(matrices), stacked
            )
            history_cache = {id(h.history): history_cols}
        excluded = set(h.history) | ({h.trigger} if h.trigger is not None else set())
        # candidates: the items strongest in any feature (the max of the scaled features)
        strongest = np.zeros(n, np.float32)
        for f in features:
            if (c := common.get(f)) is not None:
                np.maximum(strongest, c, out=strongest)
            if (block := history_cols.get(f)) is not None:
                np.maximum(strongest, block.max(axis=0), out=strongest)
        if excluded:
            strongest[np.fromiter(excluded, np.int64)] = 0
        top = np.argpartition(-strongest, min(POOL, n - 1))[:POOL]
        candidates = np.sort(top[strongest[top] > 0])  # the excluded items score 0
        target_mask = np.isin(candidates, np.fromiter(h.targets, np.int64))
        for r, decay in enumerate(options):
            columns = []
            for f in features:
                if f in common:
                    columns.append(common[f][candidates])
                elif f in history_cols and decay is not None:
                    columns.append(history_cols[f][r, candidates])
                else:
                    columns.append(np.zeros(len(candidates), np.float32))
            matrix = np.stack(columns, axis=1) if len(candidates) else np.zeros((0, len(features)), np.float32)
            per_decay[decay].append((matrix.astype(np.float32), target_mask, len(h.targets)))
    return {
        task: {decay: _pad(task_features(task), r, k) for decay, r in per_decay.items() if r}
        for task, per_decay in rows.items()
    }


def _history_columns(
    model: HybridModel,
    h: HeldOut,
    decays: Sequence[tuple[str, float]],
    names: list[str],
    stacked: sp.csr_matrix | None,
) -> dict[str, np.ndarray]:
    """Each signal's history feature of a held-out request, one row per decay, scaled per row;
    ``stacked``: the signals' matrices side by side, in the order of ``names``."""
    if stacked is None:
        return {}
    request = Request(history=h.history, trigger=h.trigger, task=h.task, history_times=h.history_times)
    rows, cols, vals = [], [], []
    for r, decay in enumerate(decays):
        idx, w = model.history_vector(request, decay)
        rows.append(np.full(len(idx), r))
        cols.append(idx)
        vals.append(w)
    weights = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(decays), model.n_items)
    )
    dense = np.asarray((weights @ stacked).toarray(), np.float32)
    np.maximum(dense, 0, out=dense)
    out = {}
    n = model.n_items
    for s, name in enumerate(names):
        block = dense[:, s * n : (s + 1) * n]
        tops = block.max(axis=1, keepdims=True)
        out[f"{name}:history"] = block / np.where(tops > 0, tops, 1.0)
    return out


def _pad(features: tuple[str, ...], rows: list[tuple[np.ndarray, np.ndarray, int]], k: int) -> _Prepared:
    width = max(k, max(len(r[1]) for r in rows))
    values = np.zeros((len(features), len(rows), width), np.float32)
    targets = np.zeros((len(rows), width), bool)
    for r, (matrix, target_mask, _) in enumerate(rows):
        values[:, r, : len(target_mask)] = matrix.T
        targets[r, : len(target_mask)] = target_mask
    n_targets = np.minimum(np.array([r[2] for r in rows], np.float64), k)
    return _Prepared(features, values, targets, n_targets)


def _recall(prepared: _Prepared, w: np.ndarray, k: int) -> float:
    """Mean recall@k of the blend ``w`` over the prepared requests. Only the k-th best score of
    each request is needed (a partition, not a top-k selection); candidates tied with it count
    as shown up to k (padding and candidates scoring 0 never do)."""
    scores = np.tensordot(w, prepared.values, axes=(0, 0))  # (R, P)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
    above = scores > kth
    tied = (scores == kth) & (scores > 0)
    hits = (prepared.targets & above).sum(axis=1) + np.minimum(
        (prepared.targets & tied).sum(axis=1), k - above.sum(axis=1)
    )
    return float(np.mean(hits / prepared.n_targets))


def _search(
    options: dict[tuple[str, float] | None, _Prepared], start: dict[str, float], k: int, sweeps: int = 3
) -> tuple[tuple[str, float] | None, dict[str, float], float]:
    """Per way of reading the history, coordinate ascent over every feature weight (each
    sweep tries every multiplier of each weight in turn); the best decay and its weights."""
    best: tuple[tuple[str, float] | None, dict[str, float], float] | None = None
    for decay, prepared in options.items():
        weights, value = _ascent(prepared, start, k, sweeps)
        if best is None or value > best[2] + 1e-9:
            best = (decay, weights, value)
    if best is None:
        raise ValueError("no way of reading the history to search")
    return best


def _ascent(prepared: _Prepared, start: dict[str, float], k: int, sweeps: int) -> tuple[dict[str, float], float]:
    weights = np.array([start.get(f, 0.0) for f in prepared.features], np.float32)

    def score(w: np.ndarray) -> float:
        return _recall(prepared, w, k) if w.any() else -1.0

    best = score(weights)
    for _ in range(sweeps):
        improved = False
        for j in range(len(prepared.features)):
            for m in MULTIPLIERS:
                if m == weights[j]:
                    continue
                trial = weights.copy()
                trial[j] = m
                value = score(trial)
                if value > best + 1e-9:
                    best, weights, improved = value, trial, True
        if not improved:
            break
    return {f: float(w) for f, w in zip(prepared.features, weights, strict=True) if w}, best


def tune(
    data: Interactions,
    items: Sequence[ItemText] | None = None,
    params: Params | None = None,
    *,
    k: int = 10,
    progress: Callable[[str], None] | None = None,
) -> tuple[Params, dict[str, float]]:
    """Choose each task's history decay and feature weights on held-out orders of ``data``."""
    params = params or Params()
    say = progress or (lambda message: logger.info("%s", message))
    train, held = holdout(data)
    if not held:
        return params, {}
    model = HybridModel(params).fit(train, items)
    weights = {t: dict(w) for t, w in params.weights.items()}
    decays = dict(params.decay)
    report: dict[str, float] = {}
    prepared = _prepare(model, held, DECAYS, k)
    for task in Task:
        options = prepared.get(task)
        if not options:
            continue
        n_requests = len(next(iter(options.values())).n_targets)
        decay, found, value = _search(options, params.weights.get(task.value, {}), k)
        say(f"tuning {task.value}: chose decay={decay}, recall@{k} {value:.4f} ({n_requests} held-out orders)")
        weights[task.value] = {f: found.get(f, 0.0) for f in FEATURES if found.get(f, 0.0)}
        if decay is not None:
            decays[task.value] = decay
        report[f"{task.value}_recall"] = value
    return replace(params, weights=weights, decay=decays), report


def fit_tuned(
    data: Interactions,
    items: Sequence[ItemText] | None = None,
    params: Params | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    threads: int = 2,
) -> tuple[HybridModel, dict[str, float]]:
    """Tune on held-out orders (:func:`tune`), then the model fitted on all of ``data`` with the
    chosen knobs. The knobs only weigh and read the signals, never change how they are fitted,
    so with ``threads`` > 1 the final fit runs in a second thread while the tuning runs (the
    heavy array work releases the GIL); the result is the same either way."""
    params = params or Params()
    if threads <= 1:
        chosen, report = tune(data, items, params, progress=progress)
        return HybridModel(chosen).fit(data, items), report
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crosssell-fit") as pool:
        final = pool.submit(HybridModel(params).fit, data, items)
        chosen, report = tune(data, items, params, progress=progress)
        model = final.result()
    model.params = chosen
    return model, report
