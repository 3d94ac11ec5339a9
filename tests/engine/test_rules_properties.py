"""Properties of ``rules.rerank`` over any catalogue, rules, scored pool, owned set and trigger."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crosssell_plugin.engine.rules import CatalogArrays, Rules, rerank
from crosssell_plugin.events import ItemKind

KINDS = [k.value for k in ItemKind]


@dataclass
class Case:
    catalog: CatalogArrays
    rules: Rules
    scored: list[tuple[int, float]]
    owned: set[int]
    trigger: int | None
    k: int
    one_kind: bool


def _money(draw: st.DrawFn) -> float:
    return draw(st.one_of(st.just(float("nan")), st.floats(0, 500, allow_nan=False)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 25))
    one_kind = draw(st.booleans())
    pool = (
        [draw(st.sampled_from(KINDS))] if one_kind else draw(st.lists(st.sampled_from(KINDS), min_size=2, max_size=5))
    )
    kinds = [draw(st.sampled_from(pool)) for _ in range(n)]
    parents = [draw(st.integers(-1, n - 1)) for _ in range(n)]
    parents = [-1 if p == i else p for i, p in enumerate(parents)]  # nothing is its own course
    positions = [-1] * n
    for parent in set(parents) - {-1}:  # distinct positions within a course or series, as module numbers are
        children = [i for i, p in enumerate(parents) if p == parent]
        numbers = draw(st.permutations(range(1, len(children) + 3)))
        for child, number in zip(children, numbers, strict=False):
            positions[child] = number
    catalog = CatalogArrays(
        kinds=kinds,
        prices=np.array([_money(draw) for _ in range(n)], float),
        margins=np.array([_money(draw) - 20 for _ in range(n)], float),
        available=np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool),
        parents=np.array(parents, np.int64),
        positions=np.array(positions, np.int64),
    )
    band = draw(st.one_of(st.none(), st.tuples(st.floats(0, 2), st.floats(0.01, 5)).filter(lambda b: b[0] < b[1])))
    rules = Rules(
        margin_weight=draw(st.sampled_from([0.0, 0.3, 2.0])),
        price_band=band,
        price_penalty=draw(st.floats(0, 1)),
        max_per_kind=draw(st.dictionaries(st.sampled_from(KINDS), st.integers(0, 3), max_size=4)),
        sequence_first=draw(st.booleans()),
        excluded_kinds=frozenset(draw(st.lists(st.sampled_from(KINDS), max_size=2))),
        excluded_items=frozenset(draw(st.lists(st.integers(0, n - 1), max_size=3))),
    )
    scored = draw(st.lists(st.tuples(st.integers(0, n - 1), st.floats(0, 10)), max_size=2 * n))
    owned = set(draw(st.lists(st.integers(0, n - 1), max_size=n)))
    trigger = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    return Case(catalog, rules, scored, owned, trigger, draw(st.integers(0, 12)), one_kind)


def eligible(case: Case) -> set[int]:
    """What rerank may return, worked out from the catalogue directly."""
    catalog, rules = case.catalog, case.rules
    blocked = case.owned | ({case.trigger} if case.trigger is not None else set())

    def allowed(i: int) -> bool:
        return (
            i not in blocked
            and bool(catalog.available[i])
            and catalog.kinds[i] not in rules.excluded_kinds
            and i not in rules.excluded_items
        )

    result = {i for i, _ in case.scored if allowed(i)}
    if rules.sequence_first:  # the next module or episode of each course or series the customer has part of
        furthest: dict[int, int] = {}
        for i in blocked:
            if catalog.parents[i] >= 0 and catalog.positions[i] >= 0:
                parent = int(catalog.parents[i])
                furthest[parent] = max(furthest.get(parent, -1), int(catalog.positions[i]))
        for parent, position in furthest.items():
            for i in range(len(catalog.kinds)):
                if catalog.parents[i] == parent and catalog.positions[i] == position + 1 and allowed(i):
                    result.add(i)
    return result


def non_increasing(scores: list[float]) -> bool:
    return all(a >= b for a, b in itertools.pairwise(scores))


@settings(max_examples=400, deadline=None)
@given(cases())
def test_rerank_fills_the_list_removes_only_what_it_must_and_only_reorders(case: Case) -> None:
    result = rerank(case.scored, case.catalog, owned=case.owned, trigger=case.trigger, k=case.k, rules=case.rules)
    ids = [i for i, _ in result]
    allowed = eligible(case)

    assert len(result) == min(case.k, len(allowed))
    assert len(set(ids)) == len(ids)
    assert set(ids) <= allowed  # never owned, unavailable, the trigger or excluded

    # an item beyond its kind's cap never comes before one within its cap, and each part is by score
    seen: dict[str, int] = {}
    beyond = []
    for i in ids:
        kind = case.catalog.kinds[i]
        cap = case.rules.max_per_kind.get(kind)
        beyond.append(cap is not None and seen.get(kind, 0) >= cap)
        seen[kind] = seen.get(kind, 0) + 1
    scores = [s for _, s in result]
    if case.one_kind:  # diversity does not apply: simply by adjusted score
        assert non_increasing(scores)
        ties = [(s, i) for i, s in result]
        assert all(not (a[0] == b[0] and a[1] > b[1]) for a, b in itertools.pairwise(ties))
    else:
        cut = beyond.index(True) if True in beyond else len(beyond)
        assert not any(beyond[:cut])
        assert non_increasing(scores[:cut]) and non_increasing(scores[cut:])


@settings(max_examples=100, deadline=None)
@given(cases(), st.integers(1, 12))
def test_a_bigger_k_only_adds_to_the_end(case: Case, more: int) -> None:
    def run(k: int) -> list[int]:
        return [
            i
            for i, _ in rerank(case.scored, case.catalog, owned=case.owned, trigger=case.trigger, k=k, rules=case.rules)
        ]

    assert run(case.k + more)[: case.k] == run(case.k)
