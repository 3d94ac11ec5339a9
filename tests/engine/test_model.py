"""The engine on small hand-made data: pure numpy/scipy, no database."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosssell_plugin.engine import HybridModel, Interactions, ItemText, Params, Request, Task
from crosssell_plugin.engine.similarity import cooccurrence_with_counts, top_k_rows, transitions_with_counts
from crosssell_plugin.engine.tuning import holdout, tune

DAY = 86_400.0


def _data(rows: list[tuple[int, int, float]], n_items: int | None = None) -> Interactions:
    users, items, times = zip(*rows, strict=True)
    return Interactions.from_arrays(np.array(users), np.array(items), np.array(times), n_items=n_items)


def test_cooccurrence_finds_items_bought_together() -> None:
    # users 0-3 buy 0 and 1 together; user 4 buys 0 and 2
    rows = [(u, i, 0.0) for u in range(4) for i in (0, 1)] + [(4, 0, 0.0), (4, 2, 0.0)]
    sim = cooccurrence_with_counts(_data(rows), k=10, shrink=0.0)[0].toarray()
    assert sim[0, 1] > sim[0, 2] > 0 and sim[0, 0] == 0


def test_transitions_are_directional_and_orders_count_both_ways() -> None:
    # every user buys 0, then later 1: "buyers of 0 buy 1 next", not the reverse
    rows = [(u, 0, 0.0) for u in range(5)] + [(u, 1, DAY) for u in range(5)]
    # one user buys 2 and 3 in the same order
    rows += [(9, 2, 0.0), (9, 3, 0.0)]
    t = transitions_with_counts(_data(rows), window=3)[0].toarray()
    assert t[0, 1] > 0 and t[1, 0] == 0
    assert t[2, 3] > 0 and t[3, 2] > 0


def test_top_k_rows_is_deterministic_on_ties() -> None:
    import scipy.sparse as sp

    m = sp.csr_matrix(np.array([[0, 1, 1, 1, 0.5]], np.float32))
    assert top_k_rows(m, 2).toarray().tolist() == [[0, 1, 1, 0, 0]]


def _catalogue() -> list[ItemText]:
    return [
        ItemText(title="Cleo from 5 to 7", kind="film", tags=("Drama",), people={"director": ("Agnès Varda",)}),
        ItemText(title="Vagabond", kind="film", tags=("Drama",), people={"director": ("Agnès Varda",)}),
        ItemText(title="Happy Hour Mug", kind="merch", tags=("mug",)),
        ItemText(title="The Gleaners and I", kind="film", tags=("Documentary",), people={"director": ("Agnès Varda",)}),
    ]


def test_a_new_item_without_sales_gets_content_neighbours() -> None:
    rows = [(u, i, 0.0) for u in range(3) for i in (0, 2)]  # item 3 never sold, item 1 never sold
    model = HybridModel().fit(_data(rows, n_items=4), _catalogue())
    recs = [i for i, _ in model.recommend(Request(trigger=3, task=Task.ITEM_TO_ITEM), k=2)]
    assert recs[0] in (0, 1)  # the other Varda films, not the mug
    assert 2 not in recs[:1]


def test_a_new_customer_gets_trigger_based_results() -> None:
    rows = [(u, 0, 0.0) for u in range(5)] + [(u, 1, DAY) for u in range(5)] + [(7, 2, 0.0)]
    model = HybridModel().fit(_data(rows, n_items=4), _catalogue())
    recs = model.recommend(Request(history=(), trigger=0, task=Task.POST_PURCHASE), k=3)
    assert recs[0][0] == 1


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 29), st.integers(0, 50)), min_size=5, max_size=200),
    history=st.lists(st.integers(0, 29), max_size=6),
    trigger=st.one_of(st.none(), st.integers(0, 29)),
    unavailable=st.sets(st.integers(0, 29), max_size=10),
    task=st.sampled_from(list(Task)),
)
def test_owned_unavailable_and_trigger_items_never_appear(rows, history, trigger, unavailable, task) -> None:
    data = Interactions.from_arrays(
        np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] * DAY for r in rows]), n_items=30
    )
    model = HybridModel().fit(data)
    allowed = np.ones(30, bool)
    allowed[list(unavailable)] = False
    request = Request(history=tuple(history), trigger=trigger, task=task)
    recs = model.recommend(request, k=10, allowed=allowed)
    got = {i for i, _ in recs}
    assert not got & set(history) and not got & unavailable and trigger not in got
    assert [s for _, s in recs] == sorted((s for _, s in recs), reverse=True)
    assert recs == model.recommend(request, k=10, allowed=allowed)  # deterministic


def test_tuning_chooses_weights_on_held_out_purchases() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(120):  # each user walks a "course": items 10g, 10g+1, ... in order
        g = int(rng.integers(0, 5))
        for step in range(int(rng.integers(10, 16))):
            rows.append((u, 20 * g + step, step * DAY))
    data = _data(rows, n_items=100)
    train, held = holdout(data)
    assert held and len(train) < len(data)
    assert all(not (h.targets & set(h.history)) for h in held)
    params, report = tune(data)
    assert set(report) == {"post_purchase_recall", "next_order_recall", "item_to_item_recall"}
    assert report["post_purchase_recall"] > 0.3  # the next module is found from the trigger
    assert params.weights[Task.POST_PURCHASE]["sequence"] > 0


def test_bad_interactions_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        Interactions.from_arrays(np.array([0, 1]), np.array([0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="out of range"):
        Interactions.from_arrays(np.array([0]), np.array([5]), np.array([0.0]), n_items=3)
    assert Params().weights is not Params().weights  # no shared mutable default
