"""Scale: fit time, peak memory and single-request latency on a large synthetic store.

    python -m bench.scale [--orders 1000000] [--items 100000] [--customers 300000] [--seed 1]

The store is synthetic (no real data): item popularity follows a power law, items belong to
collections of 20 (a director's films, a course's modules) that customers keep returning to,
and each order has 1-3 lines. The engine is fitted exactly as the plugin trains a store
(``fit_tuned``: validation hold-out, weight search, refit), then answers single requests.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import resource
import sys
import time

import numpy as np

from crosssell_plugin.engine import Interactions, ItemText, Request, Task
from crosssell_plugin.engine.tuning import fit_tuned

COLLECTION = 20


def synthetic(orders: int, items: int, customers: int, seed: int) -> tuple[Interactions, list[ItemText]]:
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
    data = Interactions.from_arrays(cust, item, order_time[line_order], n_users=customers, n_items=items)
    texts = [ItemText(title=f"Item {i}", kind="film", tags=(f"collection-{i // COLLECTION}",)) for i in range(items)]
    return data, texts


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    started = time.perf_counter()
    data, texts = synthetic(args.orders, args.items, args.customers, args.seed)
    print(f"generated {len(data):,} order lines in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    base_mb = peak_mb()
    started = time.perf_counter()
    model, report = fit_tuned(data, texts)
    fit_s = time.perf_counter() - started
    rng = np.random.default_rng(args.seed + 1)
    x = data.binary
    latencies = {task: [] for task in Task}
    for user in rng.choice(data.n_users, args.requests, replace=False):
        history = x.indices[x.indptr[user] : x.indptr[user + 1]].tolist()
        trigger = int(rng.integers(0, data.n_items))
        for task in Task:
            t0 = time.perf_counter()
            model.recommend(Request(history=history, trigger=trigger, task=task), k=10, exclude=history)
            latencies[task].append(time.perf_counter() - t0)
    print(f"store: {args.orders:,} orders, {len(data):,} lines, {args.items:,} items, {args.customers:,} customers")
    print(f"fit (fit_tuned: hold-out, weight search, refit): {fit_s:.1f}s; EASE used: {model.ease is not None}")
    print(f"peak memory: {peak_mb():,.0f} MB (data generation alone: {base_mb:,.0f} MB)")
    for task, values in latencies.items():
        ms = np.array(values) * 1000
        print(
            f"{task:>13}: p50 {np.percentile(ms, 50):.2f} ms  p99 {np.percentile(ms, 99):.2f} ms  ({len(ms)} requests)"
        )
    print(f"tuning recall on the hold-out: { {k: round(v, 4) for k, v in report.items()} }")


if __name__ == "__main__":
    main()
