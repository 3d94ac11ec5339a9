"""Business rules, explanations and artifacts of the engine."""

from __future__ import annotations

import numpy as np
import pytest

from crosssell_plugin.engine import HybridModel, Interactions, ItemText, Request, Task
from crosssell_plugin.engine.artifact import CorruptArtifact, dumps, loads
from crosssell_plugin.engine.explain import explain
from crosssell_plugin.engine.rules import CatalogArrays, Rules, next_in_sequence, rerank

DAY = 86_400.0

# items: 0 course, 1-3 its modules 1..3, 4 film, 5 film (same director as 4), 6 and 7 merch
KINDS = ["course", "module", "module", "module", "film", "film", "merch", "merch"]


def _catalog(**overrides) -> CatalogArrays:
    values = {
        "kinds": KINDS,
        "prices": np.array([90, 20, 20, 20, 10, 10, 25, 60], float),
        "margins": np.array([80, 18, 18, 18, 6, 6, 10, 40], float),
        "available": np.ones(8, bool),
        "parents": np.array([-1, 0, 0, 0, -1, -1, -1, -1]),
        "positions": np.array([-1, 1, 2, 3, -1, -1, -1, -1]),
    }
    values.update(overrides)
    return CatalogArrays(**values)


def test_next_module_first_and_never_one_further_ahead() -> None:
    catalog = _catalog()
    assert next_in_sequence(catalog, owned={1}) == {0: 2}
    scored = [(3, 0.9), (4, 0.8), (2, 0.1)]
    ranked = [i for i, _ in rerank(scored, catalog, owned={1}, trigger=1, k=3)]
    assert ranked[0] == 2 and ranked.index(3) > ranked.index(4)


def test_next_module_is_added_even_if_the_scorer_missed_it() -> None:
    ranked = [i for i, _ in rerank([(4, 0.5)], _catalog(), owned={1, 2}, trigger=None, k=2)]
    assert ranked == [3, 4]


def test_owned_unavailable_and_trigger_are_removed_and_a_second_merch_item_moves_down() -> None:
    catalog = _catalog(available=np.array([True] * 5 + [False, True, True]))
    scored = [(4, 1.0), (5, 0.9), (6, 0.8), (7, 0.7), (1, 0.6), (3, 0.5)]
    ranked = [i for i, _ in rerank(scored, catalog, owned={1}, trigger=4, k=5, rules=Rules(price_band=None))]
    # 2 is the next module (after the owned module 1), 3 one further ahead (pushed down, kept)
    assert ranked == [2, 6, 3, 7]
    assert [i for i, _ in rerank(scored, catalog, owned={1}, trigger=4, k=2, rules=Rules(price_band=None))] == [2, 6]


def test_a_soft_kind_cap_never_shortens_a_list_of_one_kind() -> None:
    merch_only = _catalog(kinds=["merch"] * 8, parents=np.full(8, -1), positions=np.full(8, -1))
    scored = [(6, 0.9), (7, 0.8), (5, 0.7), (4, 0.6)]
    ranked = rerank(scored, merch_only, owned=set(), trigger=0, k=4, rules=Rules(price_band=None))
    assert [i for i, _ in ranked] == [6, 7, 5, 4]


def test_excluded_kinds_and_items_are_removed() -> None:
    scored = [(4, 1.0), (5, 0.9), (6, 0.8), (7, 0.7)]
    rules = Rules(price_band=None, excluded_kinds=frozenset({"merch"}), excluded_items=frozenset({5}))
    assert rerank(scored, _catalog(), owned=set(), trigger=None, k=4, rules=rules) == [(4, 1.0)]
    # the next module too, when modules are excluded
    modules_out = Rules(excluded_kinds=frozenset({"module"}))
    assert [i for i, _ in rerank([(4, 1.0)], _catalog(), owned={1}, trigger=None, k=3, rules=modules_out)] == [4]
    assert Rules(excluded_items=frozenset({10, 11})).mapped({10: 3, 12: 4}).excluded_items == {3}


def test_margin_weight_and_price_band_change_the_order() -> None:
    scored = [(6, 1.0), (7, 0.95)]  # 7 has the better margin but costs 6x the trigger
    plain = rerank(scored, _catalog(), owned=set(), trigger=4, k=2, rules=Rules(price_band=None, max_per_kind={}))
    by_margin = rerank(
        scored,
        _catalog(),
        owned=set(),
        trigger=4,
        k=2,
        rules=Rules(margin_weight=0.5, price_band=None, max_per_kind={}),
    )
    banded = rerank(
        scored,
        _catalog(),
        owned=set(),
        trigger=4,
        k=2,
        rules=Rules(margin_weight=0.5, price_band=(0, 3), max_per_kind={}),
    )
    assert [i for i, _ in plain] == [6, 7]
    assert [i for i, _ in by_margin] == [7, 6]
    assert [i for i, _ in banded] == [6, 7]


def _fitted() -> tuple[HybridModel, Interactions, list[ItemText]]:
    texts = [ItemText(title=f"Item {i}", kind=k) for i, k in enumerate(KINDS)]
    texts[4] = ItemText(title="Cleo", kind="film", people={"director": ("Agnès Varda",)}, tags=("Drama",))
    texts[5] = ItemText(title="Vagabond", kind="film", people={"director": ("Agnès Varda",)}, tags=("Drama",))
    rows = []
    for u in range(6):  # 6 customers buy film 4 and merch 6 together
        rows += [(u, 4, 0.0), (u, 6, 0.0)]
    for u in range(6, 9):  # 3 customers buy film 4, then film 5 a day later
        rows += [(u, 4, 0.0), (u, 5, DAY)]
    users, items, times = zip(*rows, strict=True)
    data = Interactions.from_arrays(np.array(users), np.array(items), np.array(times), n_items=8)
    return HybridModel().fit(data, texts), data, texts


def _bought_both(data: Interactions, a: int, b: int) -> int:
    x = data.binary.toarray()
    return int(((x[:, a] > 0) & (x[:, b] > 0)).sum())


def test_explanations_are_true() -> None:
    model, data, _ = _fitted()
    request = Request(trigger=4, task=Task.ITEM_TO_ITEM)
    merch = explain(model, request, 6)
    assert merch[0].signal == "bought_together" and merch[0].evidence == 4
    assert merch[0].count == _bought_both(data, 4, 6) == 6
    film = {r.signal: r for r in explain(model, request, 5, limit=5)}
    assert film["bought_next"].count == 3 and film["bought_next"].evidence == 4
    assert film["similar"].shared == ("person:agnès varda", "tag:drama")
    assert not any(r.signal == "similar" for r in explain(model, request, 6, limit=5))  # nothing shared


def test_next_in_sequence_is_explained() -> None:
    model, _, _ = _fitted()
    reasons = explain(model, Request(history=(1,), trigger=None, task=Task.NEXT_ORDER), 2, catalog=_catalog())
    assert reasons[0].signal == "next_in_sequence" and reasons[0].evidence == 0


def test_artifact_round_trip_and_corruption() -> None:
    model, _, _ = _fitted()
    blob = dumps(model, meta={"item_ids": list(range(8))})
    again, meta = loads(blob)
    assert meta == {"item_ids": list(range(8))}
    request = Request(history=(6,), trigger=4, task=Task.POST_PURCHASE)
    assert again.recommend(request) == model.recommend(request)
    assert again.item_tokens == model.item_tokens
    with pytest.raises(CorruptArtifact, match="checksum"):
        loads(blob[:-10])
    with pytest.raises(CorruptArtifact, match="checksum"):
        loads(blob[:200] + bytes([blob[200] ^ 1]) + blob[201:])
    with pytest.raises(CorruptArtifact, match="bad header"):
        loads(b"PK\x03\x04 not ours")
