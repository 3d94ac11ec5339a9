"""Scale: fit time, peak memory and single-request latency of the engine on two synthetic stores.

    python -m bench.scale [--profile default] [--orders 1000000] [--items 100000] [--customers 300000] [--seed 1]
    python -m bench.scale --profile heavy [--items 4000] [--customers 5000] [--orders N] [--seed 7]

Profiles (synthetic data only, no real shop behind either):

- ``default``: a large store of 1,000,000 orders over 100,000 items and 300,000 customers. Item
  popularity follows a power law, items belong to collections of 20 (a director's films, a
  course's modules) that customers keep returning to, each order has 1-3 lines.
- ``heavy``: the hard serving case, the basket shop of ``bench/baskets.py`` at about 500,000
  lines: 4,000 merch items, orders of about 20 lines, repeat customers, and wholesale accounts
  whose histories hold 1,500+ distinct items.

The engine is fitted exactly as the plugin trains a store (``fit_tuned``: validation hold-out,
weight search, refit), then answers single requests built as the plugin builds them: at one of a
customer's orders (one that has earlier orders), ``history`` = the items of all earlier orders,
oldest first, with repeats, ``history_times`` their unix times (one time per order), trigger =
the order's first line. ``post_purchase`` gets history + trigger, ``next_order`` the history,
``item_to_item`` the trigger alone; every task excludes the history from the candidates.
Latency is measured separately for "ordinary" requests (fewer than 1,500 distinct items in the
history) and "heavy" ones (1,500+), up to ``--requests`` of each, one request at a time.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import logging
import platform
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from crosssell_plugin.engine import HybridModel, Interactions, ItemText, Request, Task
from crosssell_plugin.engine.tuning import fit_tuned

COLLECTION = 20
HEAVY_HISTORY = 1500  # distinct items from which a request counts as heavy

PROFILES = {
    "default": {"orders": 1_000_000, "items": 100_000, "customers": 300_000, "seed": 1},
    "heavy": {"orders": None, "items": 4000, "customers": 5000, "seed": 7},
}
#: the targets each profile is held to (fit seconds, peak MB; p99 per request in ms)
TARGETS = {"default": {"fit_s": 120.0, "peak_mb": 4096.0}, "heavy": {"fit_s": 15.0, "peak_mb": None}}
P99_TARGET_MS = 5.0


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Store:
    """Training data for the engine plus every order line in order (for building requests)."""

    description: str
    data: Interactions
    texts: list[ItemText]
    user: np.ndarray  # per line, lines of one order together, orders in time order
    item: np.ndarray
    time: np.ndarray


def synthetic(orders: int, items: int, customers: int, seed: int) -> Store:
    """The ``default`` profile's store."""
    rng = np.random.default_rng(seed)
    n_collections = items // COLLECTION
    collection_pop = 1.0 / np.arange(1, n_collections + 1) ** 0.9
    collection_pop /= collection_pop.sum()
    favourite = rng.choice(n_collections, size=(customers, 2), p=collection_pop)
    order_customer = rng.integers(0, customers, orders)
    order_time = np.sort(rng.uniform(0, 365 * 86_400, orders))
    lines = rng.choice([1, 2, 3], size=orders, p=[0.6, 0.3, 0.1])
    line_order = np.repeat(np.arange(orders), lines)
    cust = order_customer[line_order]
    # 80 % of lines from one of the customer's favourite collections, 20 % anywhere (popular)
    own = rng.random(len(line_order)) < 0.8
    coll = np.where(
        own, favourite[cust, rng.integers(0, 2, len(cust))], rng.choice(n_collections, len(cust), p=collection_pop)
    )
    within = np.minimum(rng.zipf(1.6, len(cust)) - 1, COLLECTION - 1)
    item = coll * COLLECTION + within
    times = order_time[line_order]
    data = Interactions.from_arrays(cust, item, times, n_users=customers, n_items=items)
    texts = [ItemText(title=f"Item {i}", kind="film", tags=(f"collection-{i // COLLECTION}",)) for i in range(items)]
    description = f"{orders:,} orders of 1-3 lines over {items:,} items and {customers:,} customers"
    return Store(description, data, texts, cust, item, times)


def basket_shop(items: int, customers: int, orders: int | None, seed: int) -> Store:
    """The ``heavy`` profile's store: ``bench.baskets`` at the given size."""
    from bench.baskets import generate_dataset

    dataset = generate_dataset(seed, items=items, customers=customers, orders=orders)
    e, c = dataset.events, dataset.catalog
    data = Interactions.from_arrays(e.user, e.item, e.time, n_users=len(dataset.user_ids), n_items=c.size)
    texts = [
        ItemText(title=c.titles[i], description=c.descriptions[i], kind=c.kinds[i], tags=c.tags[i])
        for i in range(c.size)
    ]
    description = (
        f"basket shop (bench.baskets, seed {seed}): {len(dataset.order_ids):,} orders over {c.size:,} merch items "
        f"and {len(dataset.user_ids):,} customers"
    )
    return Store(description, data, texts, e.user, e.item, e.time)


# --- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One order of a customer at which the engine is asked: everything before it is the history."""

    history: list[int]
    history_times: list[float]
    trigger: int
    distinct: int


def samples(store: Store, n: int, seed: int) -> dict[str, list[Sample]]:
    """Up to ``n`` ordinary and ``n`` heavy request points, drawn at random among the orders
    that have earlier orders of the same customer."""
    sort = np.lexsort((np.arange(len(store.user)), store.time, store.user))  # by customer, time, line
    user, item, times = store.user[sort], store.item[sort], store.time[sort]
    new_user = np.r_[True, user[1:] != user[:-1]]
    new_order = new_user | np.r_[True, times[1:] != times[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, np.arange(len(user)), 0))
    key = user.astype(np.int64) * int(item.max() + 1) + item
    first = np.zeros(len(key), bool)
    first[np.unique(key, return_index=True)[1]] = True
    seen = np.r_[0, np.cumsum(first)]  # seen[p] = first purchases before position p
    starts = np.flatnonzero(new_order & ~new_user)  # orders with an earlier order of the customer
    distinct = seen[starts] - seen[user_start[starts]]
    rng = np.random.default_rng(seed)
    out: dict[str, list[Sample]] = {}
    for group, mask in (("ordinary", distinct < HEAVY_HISTORY), ("heavy", distinct >= HEAVY_HISTORY)):
        chosen = np.flatnonzero(mask)
        if len(chosen) > n:
            chosen = np.sort(rng.choice(chosen, n, replace=False))
        out[group] = [
            Sample(
                history=item[user_start[p] : p].tolist(),
                history_times=times[user_start[p] : p].tolist(),
                trigger=int(item[p]),
                distinct=int(d),
            )
            for p, d in zip(starts[chosen].tolist(), distinct[chosen].tolist(), strict=True)
        ]
    return out


def request(sample: Sample, task: Task) -> Request:
    """The request the plugin builds for ``task`` at this point of the customer's history."""
    history, history_times = (sample.history, sample.history_times) if task != Task.ITEM_TO_ITEM else ([], [])
    trigger = None if task == Task.NEXT_ORDER else sample.trigger
    return Request(history=history, trigger=trigger, task=task, history_times=history_times)


def latencies(model: HybridModel, group: list[Sample]) -> dict[str, np.ndarray]:
    out = {}
    for task in Task:
        values = []
        for sample in group:
            built = request(sample, task)
            started = time.perf_counter()
            model.recommend(built, k=10, exclude=sample.history)
            values.append(time.perf_counter() - started)
        out[task.value] = np.array(values) * 1000
    return out


# --- baselines in the same run -----------------------------------------------------------------

#: EASE's dense items x items inverse is only attempted up to this many items (as the engine does)
EASE_MAX_ITEMS = 12_000


def baseline_run(data: Interactions, groups: dict[str, list[Sample]], description: str) -> dict:
    """Fit time and request latency of bench.quality's baselines on the same data, in the same
    process, so the engine's figures read as ratios: implicit's BM25 item-item (K=100) always,
    plain EASE (lambda=500) where its dense inverse fits. Requests are the ``post_purchase``
    requests above (history + trigger, history excluded)."""
    from types import SimpleNamespace

    from bench.baselines import EASE, ImplicitBM25

    train = SimpleNamespace(matrix=data.binary.astype(np.float32).tocsr(), n_items=data.n_items)
    models: list[tuple[str, Any, dict[str, Any]]] = [
        ("implicit-bm25 (K=100)", ImplicitBM25(), {"K": 100, "K1": 1.2, "B": 0.75})
    ]
    if data.n_items <= EASE_MAX_ITEMS:
        models.append(("ease (lambda=500)", EASE(), {"lambda": 500.0}))
    out: dict[str, Any] = {}
    for name, model, params in models:
        progress(f"[baseline] fitting {name} on {description}...")
        started = time.perf_counter()
        model.fit(train, params)
        fit_s = time.perf_counter() - started
        timings: dict[str, dict[str, float]] = {}
        for group, points in groups.items():
            values = []
            for sample in points:
                exclude = set(sample.history)
                started = time.perf_counter()
                model.recommend(sample.history, sample.history_times, sample.trigger, 10, exclude)
                values.append(time.perf_counter() - started)
            if values:
                ms = np.array(values) * 1000
                timings[group] = {
                    "p50": round(float(np.percentile(ms, 50)), 3),
                    "p99": round(float(np.percentile(ms, 99)), 3),
                }
        out[name] = {"fit_s": round(fit_s, 2), "post_purchase_ms": timings}
        del model
    return out


# --- the run ----------------------------------------------------------------------------------


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--orders", type=int, help="default profile: orders; heavy: about this many orders")
    parser.add_argument("--items", type=int)
    parser.add_argument("--customers", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--requests", type=int, default=2000, help="per group (ordinary, heavy), at most")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    for key, value in PROFILES[args.profile].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    logging.getLogger("crosssell_plugin.engine").setLevel(logging.INFO)  # the weight search's progress
    started = time.perf_counter()
    progress(f"[{args.profile}] generating the store...")
    if args.profile == "heavy":
        store = basket_shop(args.items, args.customers, args.orders, args.seed)
    else:
        store = synthetic(args.orders, args.items, args.customers, args.seed)
    data = store.data
    progress(f"[{args.profile}] generated {len(data):,} order lines in {time.perf_counter() - started:.1f}s")
    base_mb = peak_mb()
    progress(f"[{args.profile}] fitting (fit_tuned: hold-out, weight search, refit)...")
    started = time.perf_counter()
    model, report = fit_tuned(data, store.texts)
    fit_s = time.perf_counter() - started
    fit_mb = peak_mb()
    progress(f"[{args.profile}] fitted in {fit_s:.1f}s; building requests...")
    groups = samples(store, args.requests, args.seed + 1)
    results = {}
    for group, points in groups.items():
        if points:
            progress(f"[{args.profile}] {len(points):,} {group} requests x {len(Task)} tasks...")
            results[group] = latencies(model, points)

    crosssell_peak_mb = peak_mb()
    baselines = baseline_run(data, groups, store.description)

    targets = TARGETS[args.profile]
    distinct = np.diff(data.binary.indptr)
    summary = {
        "profile": args.profile,
        "store": store.description,
        "lines": len(data),
        "customers_with_1500_plus_items": int((distinct >= HEAVY_HISTORY).sum()),
        "machine": f"{os.cpu_count()} CPUs, {cpu_name()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}",
        "fit_s": round(fit_s, 2),
        "fit_target_s": targets["fit_s"],
        "ease_used": model.ease is not None,
        "peak_mb": round(crosssell_peak_mb),
        "peak_mb_after_fit": round(fit_mb),
        "peak_mb_generation": round(base_mb),
        "peak_target_mb": targets["peak_mb"],
        "tuning_recall": {k: round(v, 4) for k, v in report.items()},
        "latency_ms": {
            group: {
                "requests": len(groups[group]),
                "history_distinct_median": int(np.median([s.distinct for s in groups[group]])),
                "history_distinct_max": max(s.distinct for s in groups[group]),
                "history_lines_median": int(np.median([len(s.history) for s in groups[group]])),
                "history_lines_max": max(len(s.history) for s in groups[group]),
                **{
                    task: {"p50": round(float(np.percentile(ms, 50)), 3), "p99": round(float(np.percentile(ms, 99)), 3)}
                    for task, ms in values.items()
                },
            }
            for group, values in results.items()
        },
        "baselines": baselines,
    }
    print_summary(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))


def _verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"  (target < {target:g}: {'met' if value < target else 'MISSED'})"


def print_summary(s: dict) -> None:
    print(f"profile {s['profile']}: {s['store']}; {s['lines']:,} lines")
    print(f"customers with {HEAVY_HISTORY:,}+ distinct items: {s['customers_with_1500_plus_items']:,}")
    print(f"machine: {s['machine']}")
    print(
        f"fit (fit_tuned: hold-out, weight search, refit): {s['fit_s']:.1f} s{_verdict(s['fit_s'], s['fit_target_s'])};"
        f" EASE used: {s['ease_used']}"
    )
    print(
        f"peak memory: {s['peak_mb']:,} MB{_verdict(s['peak_mb'], s['peak_target_mb'])} "
        f"(after generation: {s['peak_mb_generation']:,} MB)"
    )
    print(f"tuning recall on the hold-out: {s['tuning_recall']}")
    print()
    print("| requests | task | n | history: distinct items median / max, lines median | p50 ms | p99 ms | p99 < 5 ms |")
    print("|---|---|---|---|---|---|---|")
    for group, g in s["latency_ms"].items():
        for task in Task:
            t = g[task.value]
            ok = "yes" if t["p99"] < P99_TARGET_MS else "NO"
            print(
                f"| {group} | {task.value} | {g['requests']:,} | {g['history_distinct_median']:,} / "
                f"{g['history_distinct_max']:,}, {g['history_lines_median']:,} "
                f"| {t['p50']:.2f} | {t['p99']:.2f} | {ok} |"
            )
    if "heavy" not in s["latency_ms"]:
        print(f"| heavy | - | 0 | no request point has {HEAVY_HISTORY:,}+ distinct history items | | | |")
    print()
    print("Baselines in the same run (post_purchase requests; fit ratio = crosssell's fit_tuned / the baseline's fit):")
    print()
    print("| model | fit s | crosssell fit / this | requests | p50 ms | p99 ms | crosssell p99 / this |")
    print("|---|---|---|---|---|---|---|")
    for name, b in s.get("baselines", {}).items():
        for group, t in b["post_purchase_ms"].items():
            ours = s["latency_ms"][group]["post_purchase"]["p99"]
            print(
                f"| {name} | {b['fit_s']:.2f} | {s['fit_s'] / max(b['fit_s'], 1e-9):.1f}x | {group} "
                f"| {t['p50']:.2f} | {t['p99']:.2f} | {ours / max(t['p99'], 1e-9):.2f}x |"
            )


if __name__ == "__main__":
    main()
