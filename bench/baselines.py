"""Bench-only baselines: most-popular, implicit's BM25 item-item and ALS, and plain EASE.

How each answers: ``post_purchase`` and ``next_order`` score from the customer's history row
(the trigger added to it for post_purchase); ``item_to_item`` scores from a one-item row holding
the trigger only. Owned items (the request's ``exclude``: history and trigger) are always filtered.
"""

from __future__ import annotations

import itertools
import warnings
from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender

from bench.protocol import TrainData

SEED = 42
THREADS = 2


def query_row(history: list[int], trigger: int | None, n_items: int) -> sp.csr_matrix:
    """A 1 x n_items CSR row: how often each item occurs in history (+ the trigger)."""
    counts = Counter(history)
    if trigger is not None:
        counts[trigger] += 1
    items = sorted(counts)
    data = np.array([counts[i] for i in items], dtype=np.float32)
    return sp.csr_matrix((data, (np.zeros(len(items), dtype=np.int64), items)), shape=(1, n_items))


def top_k(scores: np.ndarray, k: int, exclude: set[int]) -> list[int]:
    """The k best-scored items not in exclude; ties go to the lower item index."""
    scores = np.array(scores, dtype=np.float64)
    scores[list(exclude)] = -np.inf
    candidates = np.flatnonzero(np.isfinite(scores))
    if len(candidates) > k:
        kth = -np.partition(-scores[candidates], k - 1)[k - 1]
        candidates = candidates[scores[candidates] >= kth]
    ranked = candidates[np.lexsort((candidates, -scores[candidates]))]
    return ranked[:k].tolist()


class MostPopular:
    """Items bought by the most customers in training, the same list for everyone."""

    name = "popular"
    ours = False

    def __init__(self) -> None:
        self.ranking: list[int] = []

    def grid(self) -> list[dict[str, Any]]:
        return [{}]

    def fit(self, train: TrainData, params: dict[str, Any]) -> None:
        buyers = np.diff(train.matrix.tocsc().indptr)
        self.ranking = np.lexsort((np.arange(len(buyers)), -buyers)).tolist()

    def recommend(
        self, history: list[int], history_times: list[float], trigger: int | None, k: int, exclude: set[int]
    ) -> list[int]:
        return list(itertools.islice((i for i in self.ranking if i not in exclude), k))


class ImplicitBM25:
    """``implicit.nearest_neighbours.BM25Recommender`` (item-item, BM25-weighted)."""

    name = "implicit-bm25"
    ours = False

    def __init__(self) -> None:
        self.model: BM25Recommender | None = None
        self.n_items = 0

    def grid(self) -> list[dict[str, Any]]:
        weights = [{"K1": 1.2, "B": 0.75}, {"K1": 100.0, "B": 0.8}]
        return [{"K": k, **w} for k in (50, 100, 200) for w in weights]

    def fit(self, train: TrainData, params: dict[str, Any]) -> None:
        self.model = BM25Recommender(K=params["K"], K1=params["K1"], B=params["B"], num_threads=THREADS)
        with warnings.catch_warnings():  # implicit hands its own BM25-weighted COO matrix to its knn
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            self.model.fit(train.matrix, show_progress=False)
        self.n_items = train.n_items

    def recommend(
        self, history: list[int], history_times: list[float], trigger: int | None, k: int, exclude: set[int]
    ) -> list[int]:
        assert self.model is not None
        row = query_row(history, trigger, self.n_items)
        ids, _ = self.model.recommend(
            0, row, N=k, filter_already_liked_items=False, filter_items=np.array(sorted(exclude), dtype=np.int32)
        )
        return [int(i) for i in ids[:k]]


class ImplicitALS:
    """``implicit.als.AlternatingLeastSquares`` on CPU; requests are folded in.

    Every task, item_to_item included, is answered with ``recalculate_user``: the user factor is
    solved from the request's row (history [+ trigger], or the trigger alone), then items are
    ranked by dot product. One solve per request, the same code path for the three tasks.
    """

    name = "implicit-als"
    ours = False

    def __init__(self) -> None:
        self.model: Any = None

    def grid(self) -> list[dict[str, Any]]:
        return [
            {"factors": f, "regularization": r, "alpha": a, "iterations": 15}
            for f in (64, 128)
            for r in (0.01, 0.1)
            for a in (1.0, 10.0, 40.0)
        ]

    def fit(self, train: TrainData, params: dict[str, Any]) -> None:
        self.model = AlternatingLeastSquares(
            factors=params["factors"],
            regularization=params["regularization"],
            alpha=params["alpha"],
            iterations=params["iterations"],
            random_state=SEED,
            num_threads=THREADS,
            use_gpu=False,
        )
        self.model.fit(train.matrix, show_progress=False)
        self.model.num_threads = 1  # one request = one small solve: no thread hand-off per request

    def recommend(
        self, history: list[int], history_times: list[float], trigger: int | None, k: int, exclude: set[int]
    ) -> list[int]:
        row = query_row(history, trigger, self.model.item_factors.shape[0])
        user = self.model.recalculate_user(0, row)
        return top_k(self.model.item_factors @ user, k, exclude)


class EASE:
    """Embarrassingly Shallow Autoencoder (Steck 2019), closed form on the binarized matrix.

    B = I - P / diag(P) with P = (X'X + lambda I)^-1, diag(B) = 0; scores = x B.
    Dense items x items: fine for catalogs of a few tens of thousands of items at most.
    """

    name = "ease"
    ours = False

    def __init__(self) -> None:
        self.weights = np.zeros((0, 0))

    def grid(self) -> list[dict[str, Any]]:
        return [{"lambda": lam} for lam in (50.0, 100.0, 200.0, 500.0, 1000.0)]

    def fit(self, train: TrainData, params: dict[str, Any]) -> None:
        x = train.matrix.copy()
        x.data[:] = 1.0
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += params["lambda"]
        p = np.linalg.inv(gram)
        weights = -p / np.diag(p)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights

    def recommend(
        self, history: list[int], history_times: list[float], trigger: int | None, k: int, exclude: set[int]
    ) -> list[int]:
        items = sorted(set(history) | ({trigger} if trigger is not None else set()))
        return top_k(self.weights[items].sum(axis=0), k, exclude)
