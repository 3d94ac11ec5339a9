"""The plugin's own engine, wrapped for the quality harness exactly as the plugin calls it."""

from __future__ import annotations

from typing import Any

from bench.protocol import TrainData
from crosssell_plugin.engine import Interactions, ItemText, Params, Request, Task
from crosssell_plugin.engine.model import HybridModel
from crosssell_plugin.engine.tuning import fit_tuned


class CrossSellEngine:
    name = "crosssell"
    ours = True

    def __init__(self) -> None:
        self.model: HybridModel | None = None

    def grid(self) -> list[dict[str, Any]]:
        return [{}]

    def fit(self, train: TrainData, params: dict[str, Any]) -> None:
        e = train.events
        data = Interactions.from_arrays(e.user, e.item, e.time, n_users=train.n_users, n_items=train.n_items)
        c = train.catalog
        items = [
            ItemText(title=c.titles[i], description=c.descriptions[i], kind=c.kinds[i], tags=c.tags[i])
            for i in range(c.size)
        ]
        self.model, self.report = fit_tuned(data, items, Params(**params))

    def recommend(
        self, history: list[int], history_times: list[float], trigger: int | None, k: int, exclude: set[int]
    ) -> list[int]:
        assert self.model is not None
        if trigger is None:
            task = Task.NEXT_ORDER
        elif not history:
            task = Task.ITEM_TO_ITEM
        else:
            task = Task.POST_PURCHASE
        request = Request(history=history, trigger=trigger, task=task)
        return [i for i, _ in self.model.recommend(request, k=k, exclude=sorted(exclude))]
