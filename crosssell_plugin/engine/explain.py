"""Why an item is recommended, as data. Every reason is checkable against the training data:
counts are customers who did exactly that, shared attributes are on both items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import scipy.sparse as sp

from .model import HybridModel, Request, Task
from .rules import CatalogArrays, next_in_sequence


@dataclass(frozen=True)
class Reason:
    #: bought_next | bought_together | similar | next_in_sequence | popular
    signal: str
    #: the item of the request that leads here (the purchase, or one in the history)
    evidence: int | None = None
    #: customers who did it (bought both, bought it next, bought it at all)
    count: int | None = None
    #: attributes both items have, e.g. ("person:agnès varda",)
    shared: tuple[str, ...] = ()


#: the most recent distinct history items a reason may point to
MAX_EVIDENCE = 200


def _evidence(request: Request) -> list[int]:
    items = [] if request.trigger is None or request.task == Task.NEXT_ORDER else [request.trigger]
    if request.task != Task.ITEM_TO_ITEM:
        recent = [i for i in dict.fromkeys(reversed(list(request.history))) if i not in items]
        items += recent[:MAX_EVIDENCE]
    return items


def _column_counts(counts: Any, rows: Sequence[int], column: int) -> list[int]:
    """``[int(counts[row, column]) for row in rows]``, read straight from the CSR arrays: indexing a
    sparse matrix one element at a time costs tens of microseconds each."""
    if not (sp.issparse(counts) and counts.format == "csr"):
        return [int(counts[row, column]) for row in rows]
    indptr, indices, data = counts.indptr, counts.indices, counts.data
    canonical = counts.has_canonical_format  # sorted indices, no duplicates: at most one entry, found by bisection
    values = []
    for row in rows:
        start, end = int(indptr[row]), int(indptr[row + 1])
        if start == end:
            values.append(0)
        elif canonical:
            at = start + int(indices[start:end].searchsorted(column))
            values.append(int(data[at]) if at < end and indices[at] == column else 0)
        else:
            values.append(int(data[start:end][indices[start:end] == column].sum()))
    return values


def explain(
    model: HybridModel, request: Request, item: int, catalog: CatalogArrays | None = None, limit: int = 2
) -> list[Reason]:
    """Up to ``limit`` true reasons, strongest kind first."""
    evidence = [e for e in _evidence(request) if 0 <= e < model.n_items]
    reasons: list[Reason] = []
    if catalog is not None:
        owned = set(request.history) | ({request.trigger} if request.trigger is not None else set())
        for parent, nxt in next_in_sequence(catalog, owned).items():
            if nxt == item:
                reasons.append(Reason("next_in_sequence", evidence=parent))
    for signal, counts in (("bought_next", model.sequence_counts), ("bought_together", model.copurchase_counts)):
        if counts is None:
            continue
        found = zip(_column_counts(counts, evidence, item), evidence, strict=True)
        best = max(found, default=(0, None), key=lambda p: p[0])
        if best[0] > 0:
            reasons.append(Reason(signal, evidence=best[1], count=best[0]))
    if model.item_tokens is not None:
        for e in evidence:
            shared = model.item_tokens[e] & model.item_tokens[item]
            if shared:
                reasons.append(Reason("similar", evidence=e, shared=tuple(sorted(shared))))
                break
    if not reasons and model.item_counts is not None and model.item_counts[item] > 0:
        reasons.append(Reason("popular", count=int(model.item_counts[item])))
    return reasons[:limit]
