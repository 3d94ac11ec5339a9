"""The plugin's own engine, wrapped for the quality harness as the plugin serves it.

Training is ``fit_tuned`` (the plugin's own weight search on a hold-out of the training data),
and answers go through ``rules.rerank`` like ``crosssell_plugin.recommend`` does, with the rules
that need prices, margins, stock or course structure switched off (the benchmark data has none):
what remains is the soft per-kind preference, which reorders only when a list mixes kinds (the
benchmark catalogues are of one kind each) and never shortens it.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from bench.protocol import TrainData
from crosssell_plugin.engine import Interactions, ItemText, Params, Request, Task
from crosssell_plugin.engine.model import HybridModel
from crosssell_plugin.engine.rules import CatalogArrays, Rules, rerank
from crosssell_plugin.engine.tuning import fit_tuned

RULES = Rules(margin_weight=0.0, price_band=None, sequence_first=False)
POOL = 5  # candidates per returned item handed to the rules


def _progress(message: str) -> None:
    print(f"[crosssell] {message}", file=sys.stderr, flush=True)


class CrossSellEngine:
    name = "crosssell"
    ours = True

    def __init__(self) -> None:
        self.model: HybridModel | None = None
        self.catalog: CatalogArrays | None = None
        self.report: dict[str, float] = {}

    def grid(self) -> list[dict[str, Any]]:
        return [{}]  # the engine chooses its own blend on a hold-out of the training data

    def fit(self, train: TrainData, params: dict[str, Any]) -> None:
        e = train.events
        data = Interactions.from_arrays(e.user, e.item, e.time, n_users=train.n_users, n_items=train.n_items)
        c = train.catalog
        items = [
            ItemText(title=c.titles[i], description=c.descriptions[i], kind=c.kinds[i], tags=c.tags[i])
            for i in range(c.size)
        ]
        self.model, self.report = fit_tuned(data, items, Params(**params), progress=_progress)
        n = c.size
        self.catalog = CatalogArrays(
            kinds=list(c.kinds),
            prices=np.full(n, np.nan),
            margins=np.full(n, np.nan),
            available=np.ones(n, bool),
            parents=np.full(n, -1),
            positions=np.full(n, -1),
        )

    def recommend(
        self, history: list[int], history_times: list[float], trigger: int | None, k: int, exclude: set[int]
    ) -> list[int]:
        assert self.model is not None and self.catalog is not None
        if trigger is None:
            task = Task.NEXT_ORDER
        elif not history:
            task = Task.ITEM_TO_ITEM
        else:
            task = Task.POST_PURCHASE
        request = Request(history=history, trigger=trigger, task=task, history_times=history_times)
        pool = self.model.recommend(request, k=k * POOL, exclude=sorted(exclude))
        ranked = rerank(pool, self.catalog, owned=exclude, trigger=trigger, k=k, rules=RULES)
        return [i for i, _ in ranked]
