"""EASE on recency-weighted data: the weights it is fitted on, its closed form, and the signal's
place in a fitted, saved and reloaded model."""

from __future__ import annotations

import numpy as np
import pytest

from crosssell_plugin.engine import HybridModel, Interactions, Request, Task
from crosssell_plugin.engine import similarity as sim
from crosssell_plugin.engine.artifact import dumps, loads
from crosssell_plugin.engine.model import Params

DAY = 86_400.0


def _data() -> Interactions:
    # customer 0: orders at day 0 {0, 1}, day 1 {2}, day 2 {0, 3}; customer 1: one order {1, 2}
    users = [0, 0, 0, 0, 0, 1, 1]
    items = [0, 1, 2, 0, 3, 1, 2]
    times = [0.0, 0.0, DAY, 2 * DAY, 2 * DAY, 5 * DAY, 5 * DAY]
    return Interactions.from_arrays(np.array(users), np.array(items), np.array(times), n_items=5)


def test_the_recency_matrix_weighs_each_pair_by_orders_back_from_the_customers_latest() -> None:
    m = sim.recency_matrix(_data(), half_life_orders=1.0).toarray()
    # customer 0: item 0 bought again in the latest order -> 1; item 1 two orders back -> 0.25;
    # item 2 one order back -> 0.5; item 3 in the latest -> 1; item 4 never
    assert m[0].tolist() == pytest.approx([1.0, 0.25, 0.5, 1.0, 0.0])
    assert m[1].tolist() == pytest.approx([0.0, 1.0, 1.0, 0.0, 0.0])
    longer = sim.recency_matrix(_data(), half_life_orders=2.0).toarray()
    assert longer[0, 1] == pytest.approx(0.5)  # a longer half-life forgets more slowly


def test_ease_recent_is_the_closed_form_on_the_weighted_gram() -> None:
    data = _data()
    lam = 0.5
    x = sim.recency_matrix(data, 1.0).toarray().astype(np.float64)
    g = x.T @ x + lam * np.eye(5)
    p = np.linalg.inv(g)
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    got = sim.ease_recent_top_k(data, half_life_orders=1.0, lam=lam, k=4, negative=4).toarray()
    assert np.allclose(got, expected, atol=1e-5)


def test_the_signal_is_fitted_scored_saved_and_reloaded() -> None:
    data = _data()
    model = HybridModel(Params(ease_lambda=0.5, ease_recent_half_life=1.0)).fit(data)
    assert model.ease_recent is not None and model.ease_recent.shape == (5, 5)
    scores = model.signal_scores(Request(history=[0, 3], history_times=[0.0, 0.0], task=Task.NEXT_ORDER))
    assert "ease_recent:history" in scores
    again, _ = loads(dumps(model))
    assert again.ease_recent is not None and (again.ease_recent != model.ease_recent).nnz == 0

    off = HybridModel().fit(data)  # off by default
    assert off.ease_recent is None
    too_big = HybridModel(Params(ease_max_items=4, ease_recent_half_life=1.0)).fit(data)
    assert too_big.ease is None and too_big.ease_recent is None
