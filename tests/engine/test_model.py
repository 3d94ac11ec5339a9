"""The engine on small hand-made data: pure numpy/scipy, no database."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosssell_plugin.engine import HybridModel, Interactions, ItemText, Params, Request, Task
from crosssell_plugin.engine.model import FEATURES, history_weights
from crosssell_plugin.engine.similarity import (
    basket_cooccurrence,
    cooccurrence_with_counts,
    ease,
    ease_top_k,
    top_k_rows,
    transitions_with_counts,
)
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


def test_transitions_are_directional_and_count_later_orders_only() -> None:
    # every user buys 0, then later 1: "buyers of 0 buy 1 next", not the reverse
    rows = [(u, 0, 0.0) for u in range(5)] + [(u, 1, DAY) for u in range(5)]
    # one user buys 2 and 3 in the same order: that is the basket signal's, not "next"
    rows += [(9, 2, 0.0), (9, 3, 0.0)]
    t, counts = transitions_with_counts(_data(rows), window=3)
    t = t.toarray()
    assert t[0, 1] > 0 and t[1, 0] == 0
    assert t[2, 3] == 0 and t[3, 2] == 0
    assert counts.toarray()[0, 1] == 5  # five customers bought 1 after 0


def test_transitions_reach_across_big_orders() -> None:
    # a 30-line order, then a later order: every item of the first leads to the second's
    rows = [(u, i, 0.0) for u in range(3) for i in range(30)] + [(u, 40, DAY) for u in range(3)]
    t = transitions_with_counts(_data(rows, n_items=41), window=2)[0].toarray()
    assert (t[:30, 40] > 0).all() and t[40, :30].max() == 0


def test_basket_signal_counts_orders_and_weighs_big_orders_down() -> None:
    # 0 and 1 share three small orders (of three customers); 0 and 2 share one 40-line order
    rows = [(u, i, 0.0) for u in range(3) for i in (0, 1)]
    rows += [(9, i, 0.0) for i in [0, 2, *range(10, 48)]]
    # customer 5 buys 0 and 3 in different orders: customer-level co-purchase, not a basket
    rows += [(5, 0, 0.0), (5, 3, DAY)]
    sim = basket_cooccurrence(_data(rows, n_items=48), k=50).toarray()
    assert sim[0, 1] > sim[0, 2] > 0
    assert sim[0, 3] == 0 and sim[0, 0] == 0
    # orders above max_size are left out
    assert basket_cooccurrence(_data(rows, n_items=48), k=50, max_size=10).toarray()[0, 2] == 0


def test_sparse_ease_keeps_the_strongest_entries_of_each_row() -> None:
    rng = np.random.default_rng(1)
    rows = [(u, int(i), 0.0) for u in range(60) for i in rng.choice(20, 5, replace=False)]
    data = _data(rows, n_items=20)
    dense = ease(data, lam=10.0)
    sparse = ease_top_k(data, lam=10.0, k=3, negative=2).toarray()
    for r in range(20):
        kept = np.flatnonzero(sparse[r])
        assert np.allclose(sparse[r, kept], dense[r, kept])
        positive, negative = kept[sparse[r, kept] > 0], kept[sparse[r, kept] < 0]
        assert len(positive) <= 3 and set(positive) <= set(np.argsort(-dense[r])[:3])
        assert len(negative) <= 2 and set(negative) <= set(np.argsort(dense[r])[:2])


def test_history_is_read_per_order_and_capped_to_its_heaviest_items() -> None:
    # three orders: items 0,1 (oldest), 2, then 3,4 (latest); item 0 bought again in the latest
    history = [0, 1, 2, 3, 4, 0]
    times = [0.0, 0.0, DAY, 5 * DAY, 5 * DAY, 5 * DAY]
    idx, w = history_weights(history, times, ("orders", 1.0), 10, 200)
    weight = dict(zip(idx.tolist(), w.tolist(), strict=True))
    assert weight[3] == weight[4] == 1.0 and weight[2] == 0.5 and weight[1] == 0.25
    assert weight[0] == 1.25  # bought twice: its weights add up
    by_days = dict(zip(*history_weights(history, times, ("days", 5.0), 10, 200), strict=True))
    assert by_days[1] == pytest.approx(0.5) and by_days[2] == pytest.approx(0.5 ** (4 / 5))
    idx, _ = history_weights(history, times, ("orders", 1.0), 10, 2)
    assert sorted(idx.tolist()) == [0, 3]  # the two heaviest (ties to the lower index)


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
    assert any(params.weights[Task.POST_PURCHASE].get(f, 0) > 0 for f in ("sequence:trigger", "sequence:history"))
    assert set(params.weights[Task.ITEM_TO_ITEM]) <= set(FEATURES)
    assert not any(f.endswith(":history") for f in params.weights[Task.ITEM_TO_ITEM])
    assert params.decay[Task.NEXT_ORDER][0] in ("orders", "days")


def test_holdout_keeps_whole_orders_apart() -> None:
    # every customer: three orders of four items each, a day apart
    rows = [(u, (u + 4 * o + j) % 40, o * DAY) for u in range(30) for o in range(3) for j in range(4)]
    data = _data(rows, n_items=40)
    train, held = holdout(data, min_items=5)
    kept = {(int(u), float(t)) for u, t in zip(train.users, train.times, strict=True)}
    for u in range(30):  # the last order left whole, the others kept whole (want = min(5, 12 // 5) = 2)
        assert (u, 2 * DAY) not in kept and (u, 0.0) in kept and (u, DAY) in kept
    post = [h for h in held if h.task == Task.POST_PURCHASE]
    assert post and all(len(h.targets) == 3 and len(h.history) == 8 for h in post)
    assert all(h.history_times == (0.0,) * 4 + (DAY,) * 4 for h in post)


def test_bad_interactions_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        Interactions.from_arrays(np.array([0, 1]), np.array([0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="out of range"):
        Interactions.from_arrays(np.array([0]), np.array([5]), np.array([0.0]), n_items=3)
    assert Params().weights is not Params().weights  # no shared mutable default


def test_an_artifact_of_the_earlier_engine_still_loads() -> None:
    """Models trained before the basket signal (dense EASE, one weight per signal, a half-life
    in lines) keep serving after an upgrade, until the next training replaces them."""
    import dataclasses
    import hashlib
    import io
    import json

    from crosssell_plugin.engine.artifact import MAGIC, loads

    rows = [(u, i, 0.0) for u in range(4) for i in (0, 1)] + [(4, 0, 0.0), (4, 2, 0.0)]
    fitted = HybridModel().fit(_data(rows, n_items=3))
    dense_ease = ease(_data(rows, n_items=3), lam=1.0)
    old_params = {k: v for k, v in dataclasses.asdict(Params()).items() if k not in ("weights", "decay", "basket_k")}
    old_params.update(
        history_half_life=8.0,
        trigger_weight=3.0,
        weights={t.value: {"copurchase": 0.5, "ease": 1.0, "popularity": 0.1} for t in Task},
    )
    arrays = {"ease": dense_ease, "popularity": fitted.popularity, "item_counts": fitted.item_counts}
    m = fitted.copurchase
    arrays.update({"copurchase.data": m.data, "copurchase.indices": m.indices, "copurchase.indptr": m.indptr})
    arrays["copurchase.shape"] = np.array(m.shape)
    header = {"params": old_params, "n_items": 3, "item_tokens": None, "meta": {"v": 1}}
    arrays["header.json"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    body = buffer.getvalue()
    model, meta = loads(MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert meta == {"v": 1}
    assert model.params.weights[Task.POST_PURCHASE] == {
        "copurchase:history": 0.5,
        "copurchase:trigger": 1.5,
        "ease:history": 1.0,
        "ease:trigger": 3.0,
        "popularity": 0.1,
    }
    assert model.params.decay[Task.NEXT_ORDER] == ("orders", 8.0)
    assert model.ease is not None and model.ease.nnz and model.ease.shape == (3, 3)
    assert model.recommend(Request(history=(), trigger=0, task=Task.POST_PURCHASE), k=2)[0][0] == 1
