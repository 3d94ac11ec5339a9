"""Offline recommendation quality: several models, one protocol, one run.

    python -m bench.quality --orders orders.csv --items items.csv [--json OUT] [--models a,b,...]
    python -m bench.quality --movielens /path/to/ml-100k [--json OUT] [--models a,b,...]
    python -m bench.quality --tafeng /path/to/tafeng-nbr [--json OUT] [--models a,b,...]
    python -m bench.quality --baskets [--seed 7] [--json OUT] [--models a,b,...]

Each model's configuration is chosen per task on validation (best recall@10), then refitted with
it and measured on test: recall@10 (95% interval), NDCG@10, HR@10, catalog coverage, fit seconds,
p50/p99 single-request latency. See bench/README.md for the protocol.
"""

from __future__ import annotations

import os

# Before numpy loads: one BLAS thread, implicit runs its own (THREADS) without oversubscription.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.baselines import EASE, ImplicitALS, ImplicitBM25, MostPopular
from bench.data import Dataset, load_baskets_json, load_csv, load_movielens
from bench.ours import CrossSellEngine
from bench.protocol import TASKS, Phase, Recommender, Request, Split, make_split

# Every model the harness can run, by the name --models uses. The plugin's own engine registers
# itself here (ours=True); with none registered, the output simply has baseline rows only.
MODELS: dict[str, Callable[[], Recommender]] = {
    "crosssell": CrossSellEngine,
    "popular": MostPopular,
    "implicit-bm25": ImplicitBM25,
    "implicit-als": ImplicitALS,
    "ease": EASE,
}


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskScore:
    recall: np.ndarray  # one value per request
    ndcg: np.ndarray
    hit: np.ndarray
    latency_s: np.ndarray
    recommended: frozenset[int]


def list_metrics(recommended: list[int], targets: frozenset[int], k: int) -> tuple[float, float, float]:
    """(recall@k, NDCG@k, HR@k) of one ranked list: binary gains, denominators over min(k, |targets|)."""
    gains = np.array([1.0 if item in targets else 0.0 for item in recommended[:k]])
    ideal = min(k, len(targets))
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(gains @ discounts[: len(gains)])
    hits = float(gains.sum())
    return hits / ideal, dcg / float(discounts[:ideal].sum()), float(hits > 0)


def _check(model: Recommender, recommended: list[int], request: Request, k: int) -> None:
    if len(recommended) > k or len(set(recommended)) != len(recommended):
        raise ValueError(f"{model.name} returned {len(recommended)} items (duplicates or more than k={k})")
    if request.exclude.intersection(recommended):
        raise ValueError(f"{model.name} recommended an owned item for {request.task}")


def run_task(model: Recommender, requests: list[Request], k: int) -> TaskScore:
    rows, latencies, seen = [], [], set()
    for request in requests:
        started = time.perf_counter()
        recommended = model.recommend(request.history, request.history_times, request.trigger, k, set(request.exclude))
        latencies.append(time.perf_counter() - started)
        _check(model, recommended, request, k)
        rows.append(list_metrics(recommended, request.targets, k))
        seen.update(recommended)
    values = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return TaskScore(values[:, 0], values[:, 1], values[:, 2], np.array(latencies), frozenset(seen))


def ci95(values: np.ndarray) -> float:
    """1.96 x the standard error of the mean."""
    return float(1.96 * values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


# --- tuning on validation, measuring on test --------------------------------------------------


def fit_timed(model: Recommender, phase: Phase, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    model.fit(phase.train, params)
    return time.perf_counter() - started


def _short(params: dict[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in params.items()) or "-"


def tune(model: Recommender, phase: Phase, k: int) -> dict[str, dict[str, Any]]:
    """Task -> the configuration with the best validation recall@k (the first one on ties)."""
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    grid = model.grid()
    for number, params in enumerate(grid, 1):
        fit_s = fit_timed(model, phase, params)
        recalls = {task: run_task(model, reqs, k).recall.mean() for task, reqs in phase.requests.items() if reqs}
        shown = "  ".join(f"{task} {value:.4f}" for task, value in recalls.items())
        progress(f"[{model.name}] validation {number}/{len(grid)} {_short(params)}: fit {fit_s:.2f}s  {shown}")
        for task, value in recalls.items():
            if task not in best or value > best[task][0]:
                best[task] = (value, params)
    return {task: best[task][1] if task in best else grid[0] for task in TASKS}


def _row(model: Recommender, task: str, params: dict[str, Any], score: TaskScore, fit_s: float, catalog: int) -> dict:
    return {
        "model": model.name,
        "ours": bool(model.ours),
        "task": task,
        "params": params,
        "recall_at_10": round(float(score.recall.mean()), 4),
        "recall_ci95": round(ci95(score.recall), 4),
        "ndcg_at_10": round(float(score.ndcg.mean()), 4),
        "hr_at_10": round(float(score.hit.mean()), 4),
        "coverage": round(len(score.recommended) / catalog, 4),
        "fit_s": round(fit_s, 3),
        "p50_ms": round(float(np.percentile(score.latency_s, 50)) * 1000, 3),
        "p99_ms": round(float(np.percentile(score.latency_s, 99)) * 1000, 3),
    }


def measure(model: Recommender, phase: Phase, chosen: dict[str, dict[str, Any]], k: int) -> list[dict]:
    """Refit once per distinct chosen configuration and score its tasks on test."""
    by_params: dict[str, list[str]] = {}
    for task in TASKS:
        if phase.requests[task]:
            by_params.setdefault(json.dumps(chosen[task], sort_keys=True), []).append(task)
    rows = []
    for tasks in by_params.values():
        params = chosen[tasks[0]]
        fit_s = fit_timed(model, phase, params)
        progress(f"[{model.name}] test fit {_short(params)}: {fit_s:.2f}s for {', '.join(tasks)}")
        for task in tasks:
            score = run_task(model, phase.requests[task], k)
            rows.append(_row(model, task, params, score, fit_s, phase.train.n_items))
    return sorted(rows, key=lambda row: TASKS.index(row["task"]))


def evaluate(split: Split, names: list[str], k: int) -> list[dict]:
    rows = []
    for name in names:
        model = MODELS[name]()
        chosen = tune(model, split.validation, k)
        rows += measure(model, split.test, chosen, k)
    return rows


# --- output -----------------------------------------------------------------------------------

HEADER = ("task", "model", "recall@10", "±95%", "NDCG@10", "HR@10", "coverage", "fit s", "p50 ms", "p99 ms", "params")


def table(rows: list[dict]) -> str:
    """A Markdown table, one line per (task, model), tasks in protocol order."""
    ordered = sorted(rows, key=lambda row: TASKS.index(row["task"]))
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in ordered:
        name = row["model"] + (" (ours)" if row["ours"] else "")
        cells = (
            row["task"],
            name,
            f"{row['recall_at_10']:.4f}",
            f"{row['recall_ci95']:.4f}",
            f"{row['ndcg_at_10']:.4f}",
            f"{row['hr_at_10']:.4f}",
            f"{row['coverage']:.4f}",
            f"{row['fit_s']:.2f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            _short(row["params"]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load(args: argparse.Namespace) -> Dataset:
    if args.movielens:
        return load_movielens(Path(args.movielens))
    if args.tafeng:
        path = Path(args.tafeng)
        return load_baskets_json(path / "tafeng_merged.json" if path.is_dir() else path)
    if args.baskets:
        from bench.baskets import generate_dataset

        return generate_dataset(seed=args.seed)
    if not (args.orders and args.items):
        raise SystemExit("give --orders and --items, --movielens, --tafeng or --baskets")
    return load_csv(Path(args.orders), Path(args.items))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--orders", help="orders.csv (order_id,customer_id,item_id,ordered_at,quantity,unit_price)")
    source.add_argument("--movielens", metavar="DIR", help="a MovieLens 100K directory (u.data, u.item, u.genre)")
    source.add_argument(
        "--tafeng", metavar="PATH", help="Ta Feng baskets (tafeng_merged.json, or the directory holding it)"
    )
    source.add_argument(
        "--baskets", action="store_true", help="the synthetic basket shop of bench/baskets.py (one kind, seeded)"
    )
    parser.add_argument("--seed", type=int, default=7, help="with --baskets: the generator's seed")
    parser.add_argument("--items", help="items.csv (item_id,title,kind,price,description,tags); with --orders")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON here")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from: {', '.join(MODELS)}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(MODELS)}")
    dataset = load(args)
    split = make_split(dataset)
    progress(f"{dataset.name}: {json.dumps(split.info)}")
    rows = evaluate(split, names, k=10)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"dataset": dataset.name, "split": split.info, "rows": rows}, indent=2))
    progress(f"done in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
