"""The dense fitting path of small catalogues gives what the sparse path gives, and the threaded
``fit_tuned`` gives what the sequential one gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from crosssell_plugin.engine import Interactions
from crosssell_plugin.engine import similarity as sim
from crosssell_plugin.engine.tuning import fit_tuned

DAY = 86_400.0


def _baskets(seed: int, n_items: int = 60, customers: int = 80) -> Interactions:
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(customers):
        for o in range(int(rng.integers(1, 5))):
            basket = rng.choice(n_items, size=int(rng.integers(1, 12)), replace=False, p=_zipf(n_items))
            users += [u] * len(basket)
            items += basket.tolist()
            times += [float(rng.integers(0, 90)) * DAY + o] * len(basket)
    return Interactions.from_arrays(np.array(users), np.array(items), np.array(times), n_items=n_items)


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_and_sparse_paths_agree(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    data = _baskets(seed)
    dense_pairs = sim.customer_pairs(data, dense=True)
    sparse_pairs = sim.customer_pairs(data, dense=False)
    assert isinstance(dense_pairs, np.ndarray) and sp.issparse(sparse_pairs)
    assert np.array_equal(dense_pairs, sparse_pairs.toarray())
    assert (np.diag(dense_pairs) == 0).all()

    for k in (3, 10, 100):  # fewer, about as many, more neighbours than a row has
        a = sim.cooccurrence(data, k=k, pairs=dense_pairs)
        b = sim.cooccurrence(data, k=k, pairs=sparse_pairs)
        assert (a != b).nnz == 0

    monkeypatch.setattr(sim, "DENSE_MAX_ITEMS", 10_000)
    dense_basket = sim.basket_cooccurrence(data, k=5)
    monkeypatch.setattr(sim, "DENSE_MAX_ITEMS", 0)
    sparse_basket = sim.basket_cooccurrence(data, k=5)
    assert np.array_equal(dense_basket.indptr, sparse_basket.indptr)
    assert np.array_equal(dense_basket.indices, sparse_basket.indices)
    assert np.allclose(dense_basket.data, sparse_basket.data, rtol=1e-5)

    e_dense = sim.ease(data, lam=5.0, pairs=dense_pairs)
    e_sparse = sim.ease(data, lam=5.0, pairs=sparse_pairs)
    assert np.allclose(e_dense, e_sparse, atol=1e-6)
    assert np.allclose(e_dense, sim.ease(data, lam=5.0), atol=1e-6)

    pattern = a.copy()
    assert np.array_equal(
        sim.pattern_values(dense_pairs, pattern).toarray(), sim.pattern_values(sparse_pairs, pattern).toarray()
    )


def test_ease_matches_the_closed_form() -> None:
    data = _baskets(3, n_items=25)
    x = data.binary.toarray().astype(np.float64)
    g = x.T @ x + 7.0 * np.eye(25)
    p = np.linalg.inv(g)
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0)
    assert np.allclose(sim.ease(data, lam=7.0), expected, atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-2, 4), min_size=1, max_size=12),
    rows=st.integers(1, 4),
    k=st.integers(1, 8),
)
def test_top_k_dense_keeps_the_largest_positive_entries_ties_to_the_lower_column(values, rows, k) -> None:
    m = np.array([values[r % len(values) :] + values[: r % len(values)] for r in range(rows)], np.float32)
    got = sim.top_k_dense(m, k).toarray()
    for r in range(rows):
        # the reference: sort by value descending, then column ascending; keep positive entries
        order = sorted(range(m.shape[1]), key=lambda c: (-m[r, c], c))[:k]
        expected = np.zeros(m.shape[1], np.float32)
        for c in order:
            if m[r, c] > 0:
                expected[c] = m[r, c]
        assert got[r].tolist() == expected.tolist()
    assert (sim.top_k_dense(m, k) != sim.top_k_rows(sp.csr_matrix(np.maximum(m, 0)), k)).nnz == 0


def test_symmetrize_lower_copies_the_lower_triangle_across_blocks() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(37, 37)).astype(np.float32)
    lower = np.tril(m)
    out = sim._symmetrize_lower(m.copy(), block=8)
    assert np.array_equal(out, lower + np.tril(lower, -1).T)


def test_order_index_numbers_each_customers_orders() -> None:
    data = Interactions.from_arrays(
        np.array([1, 0, 0, 1, 0]), np.array([3, 1, 2, 0, 4]), np.array([5.0, 1.0, 1.0, 5.0, 9.0])
    )
    # sorted by user then time: (0,t1)x2, (0,t9), (1,t5)x2
    assert data.order_index.tolist() == [0, 0, 1, 2, 2]


def test_threaded_fit_tuned_equals_the_sequential_one() -> None:
    data = _baskets(5, n_items=80, customers=150)
    threaded, report_a = fit_tuned(data, threads=2)
    sequential, report_b = fit_tuned(data, threads=1)
    assert report_a == report_b
    assert threaded.params == sequential.params
    for name, matrix in threaded.matrices().items():
        other = sequential.matrices()[name]
        assert (matrix != other).nnz == 0, name
    assert np.array_equal(threaded.popularity, sequential.popularity)
