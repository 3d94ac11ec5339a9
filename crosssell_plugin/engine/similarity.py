"""Item-item similarity matrices: co-purchase (weighted, top-K pruned), EASE, sequential, content."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .interactions import Interactions

#: dense row blocks of at most this many cells are used to find each row's top K
DENSE_BLOCK_CELLS = 16_000_000


def top_k_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (ties broken by column index, deterministic)."""
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sum_duplicates()
    m.eliminate_zeros()
    lengths = np.diff(m.indptr)
    if not len(lengths) or lengths.max(initial=0) <= k:
        m.sort_indices()
        return m
    n_rows, n_cols = m.shape
    if m.nnz > 4 * n_rows * k and n_cols <= 20_000 and k < n_cols:  # dense-ish: argpartition row blocks
        return _top_k_dense_blocks(m, k)
    rows = np.repeat(np.arange(m.shape[0]), lengths)
    order = np.lexsort((m.indices, -m.data, rows))
    rank = np.arange(len(order)) - np.repeat(m.indptr[:-1], lengths)
    keep = np.sort(order[rank < k])  # back in (row, column) order
    kept = np.minimum(lengths, k)
    indptr = np.r_[0, np.cumsum(kept)]
    out = sp.csr_matrix((m.data[keep], m.indices[keep], indptr), shape=m.shape)
    out.sort_indices()
    return out


def _top_k_dense_blocks(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    n_rows, n_cols = m.shape
    block = max(1, DENSE_BLOCK_CELLS // n_cols)
    parts = []
    for start in range(0, n_rows, block):
        dense = m[start : start + block].toarray()
        # ties at the k-th value go to the lower column index: sort key = value, then -column
        cols = np.argpartition(-dense, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(dense, cols, axis=1)
        kth = vals.min(axis=1, keepdims=True)
        above = dense > kth
        n_above = above.sum(axis=1)
        rows_idx, cols_idx = [], []
        for r in range(dense.shape[0]):  # exact, deterministic tie-break on the k-th value
            strict = np.flatnonzero(above[r])
            if kth[r, 0] <= 0:
                chosen = strict
            else:
                ties = np.flatnonzero(dense[r] == kth[r, 0])[: k - int(n_above[r])]
                chosen = np.concatenate([strict, ties])
            rows_idx.append(np.full(len(chosen), start + r))
            cols_idx.append(chosen)
        r_all, c_all = np.concatenate(rows_idx), np.concatenate(cols_idx)
        parts.append((r_all, c_all, dense[r_all - start, c_all]))
    r = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    v = np.concatenate([p[2] for p in parts]).astype(np.float32)
    out = sp.csr_matrix((v, (r, c)), shape=m.shape)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def pattern_values(values: sp.csr_matrix, pattern: sp.csr_matrix) -> sp.csr_matrix:
    """``values`` restricted to the non-zero positions of ``pattern``."""
    mask = pattern.copy()
    mask.data = np.ones_like(mask.data)
    out = sp.csr_matrix(values.multiply(mask), dtype=np.float32)
    out.eliminate_zeros()
    return out


def customer_pairs(data: Interactions) -> sp.csr_matrix:
    """Customers who bought both items, every pair (items x items, sparse, zero diagonal)."""
    x = data.binary
    c = (x.T @ x).tocsr().astype(np.float32)
    c.setdiag(0)
    c.eliminate_zeros()
    return c


def cooccurrence(
    data: Interactions,
    *,
    k: int = 100,
    alpha: float = 0.5,
    shrink: float = 10.0,
    pairs: sp.csr_matrix | None = None,
) -> sp.csr_matrix:
    """Co-purchase similarity C_ij / (n_i^alpha * n_j^(1-alpha) + shrink), top-K per row;
    ``pairs``: :func:`customer_pairs` of ``data`` if already computed."""
    c = customer_pairs(data) if pairs is None else pairs
    return top_k_rows(_asymmetric_cosine(c, data.item_counts, alpha, shrink), k)


def cooccurrence_with_counts(
    data: Interactions,
    *,
    k: int = 100,
    alpha: float = 0.5,
    shrink: float = 10.0,
    pairs: sp.csr_matrix | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Co-purchase similarity and, on the same pairs, how many customers bought both.

    Similarity is the asymmetric cosine C_ij / (n_i^alpha * n_j^(1-alpha) + shrink), top-K per row:
    row i holds the items bought by buyers of i. Sparse throughout, so it scales with the number of
    interactions, not with items squared.
    """
    c = customer_pairs(data) if pairs is None else pairs
    sim = cooccurrence(data, k=k, alpha=alpha, shrink=shrink, pairs=c)
    return sim, pattern_values(c, sim)


def _asymmetric_cosine(c: sp.csr_matrix, counts: np.ndarray, alpha: float, shrink: float) -> sp.csr_matrix:
    c = c.copy()
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
    denom = np.power(counts[rows], alpha) * np.power(counts[c.indices], 1 - alpha) + shrink
    c.data = (c.data / denom).astype(np.float32)
    return c


def basket_cooccurrence(
    data: Interactions,
    *,
    k: int = 200,
    alpha: float = 0.5,
    size_power: float = 0.5,
    max_size: int = 150,
    shrink: float = 1.0,
) -> sp.csr_matrix:
    """Same-order co-occurrence: S_ij = C_ij / (n_i^alpha * n_j^(1-alpha) + shrink), top-K per row.

    An order (one customer, one time) of n distinct items adds 1 / n^size_power to each of its
    pairs, and n_i sums those weights over the orders holding i (the length normalisation of
    BM25: a wholesale order of 300 lines says little about any one pair). Orders of more than
    ``max_size`` distinct items are left out (restocking, not a basket). Sparse throughout.
    """
    n = data.n_items
    if not len(data):
        return sp.csr_matrix((n, n), dtype=np.float32)
    key = np.stack([data.users.astype(np.int64), data.times.view(np.int64)], axis=1)
    _, order = np.unique(key, axis=0, return_inverse=True)
    order = order.ravel()
    o = sp.csr_matrix((np.ones(len(order), np.float32), (order, data.items)), shape=(int(order.max()) + 1, n))
    o.sum_duplicates()
    o.data[:] = 1.0
    sizes = np.diff(o.indptr).astype(np.float64)
    weight = np.where((sizes >= 2) & (sizes <= max_size), np.power(np.maximum(sizes, 1.0), -size_power), 0.0)
    ow = sp.diags(weight.astype(np.float32)) @ o
    counts = np.asarray(ow.sum(axis=0)).ravel().astype(np.float32)
    c = (o.T @ ow).tocsr().astype(np.float32)
    c.setdiag(0)
    c.eliminate_zeros()
    return top_k_rows(_asymmetric_cosine(c, counts, alpha, shrink), k)


def ease_top_k(
    data: Interactions,
    *,
    lam: float = 200.0,
    k: int = 200,
    negative: int = 100,
    pairs: sp.csr_matrix | None = None,
) -> sp.csr_matrix:
    """EASE kept as its ``k`` largest positive and ``negative`` most negative entries per row
    (sparse: a request reads at most k + negative values per history item, not a dense row of
    the catalogue; the negative ones matter when a long history is summed)."""
    return dense_top_k_rows(ease(data, lam=lam, pairs=pairs), k, negative)


def dense_top_k_rows(dense: np.ndarray, k: int, negative: int = 0) -> sp.csr_matrix:
    """The ``k`` largest positive entries of each row of a dense square matrix, and its
    ``negative`` most negative ones, as CSR."""
    n = dense.shape[0]
    parts = []
    for sign, count in ((1.0, k), (-1.0, negative)):
        count = min(count, n - 1) if n > 1 else 0
        if count <= 0:
            continue
        cols = np.argpartition(-sign * dense, count - 1, axis=1)[:, :count]
        vals = np.take_along_axis(dense, cols, axis=1).ravel()
        rows = np.repeat(np.arange(n), count)
        keep = sign * vals > 0
        parts.append((vals[keep], rows[keep], cols.ravel()[keep]))
    if not parts:
        return sp.csr_matrix(dense.shape, dtype=np.float32)
    vals, rows, cols = (np.concatenate(p) for p in zip(*parts, strict=True))
    out = sp.csr_matrix((vals, (rows, cols)), shape=dense.shape, dtype=np.float32)
    out.sort_indices()
    return out


def ease(data: Interactions, *, lam: float = 200.0, pairs: sp.csr_matrix | None = None) -> np.ndarray:
    """EASE (Steck 2019): the closed-form linear item model, dense n_items x n_items float32.

    ``pairs``: :func:`customer_pairs` of ``data`` if already computed (the Gram matrix is those
    plus the buyers of each item on the diagonal)."""
    if pairs is None:
        x = data.binary
        g = (x.T @ x).toarray().astype(np.float64)
    else:
        g = pairs.toarray().astype(np.float64)
        g[np.diag_indices_from(g)] = data.item_counts
    diag = np.diag_indices_from(g)
    g[diag] += lam
    p = _spd_inverse(g)
    del g
    p /= -np.diag(p)[None, :]
    p[diag] = 0.0
    return p.astype(np.float32, copy=False)


def _spd_inverse(g: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix: Cholesky in float32 (a quarter of the
    work of a float64 LU inverse; EASE's ridge keeps it well conditioned), float64 LU if that fails."""
    from scipy.linalg import lapack

    g32 = g.astype(np.float32)
    factor, info = lapack.spotrf(g32, lower=1, overwrite_a=1)
    if info == 0:
        inverse, info = lapack.spotri(factor, lower=1, overwrite_c=1)
        if info == 0:
            lower = np.tril(inverse)
            return lower + np.tril(inverse, -1).T
    return np.linalg.inv(g).astype(np.float32)


def transitions_with_counts(
    data: Interactions, *, window: int = 5, decay: float = 0.6, beta: float = 0.5, k: int = 100
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """What buyers of X buy next: T_ij = sum over users of decay^(steps-1) for j bought in a later
    order than i (``steps`` orders later, at most ``window``); items of one order are the basket
    signal's business, not this one's. Row i is
    normalised by (outgoing mass of i)^beta so that popular triggers do not dominate. Top-K per row.
    """
    first = data.first_occurrences()
    users, items, times = first.users, first.items, first.times
    n = data.n_items
    if not len(users):
        empty = sp.csr_matrix((n, n), dtype=np.float32)
        return empty, empty.copy()
    # One row per (customer, order holding a first purchase), in order; consecutive rows of a
    # customer are consecutive orders, so row r + g is the order g steps after row r.
    new_order = np.r_[True, (users[1:] != users[:-1]) | (times[1:] != times[:-1])]
    row = np.cumsum(new_order) - 1
    row_user = users[new_order]
    a = sp.csr_matrix((np.ones(len(items), np.float32), (row, items)), shape=(int(row[-1]) + 1, n))
    a.sum_duplicates()
    a.data[:] = 1.0
    t = sp.csr_matrix((n, n), dtype=np.float32)
    counts = sp.csr_matrix((n, n), dtype=np.float32)
    for gap in range(1, window + 1):
        if gap >= a.shape[0]:
            break
        same = (row_user[:-gap] == row_user[gap:]).astype(np.float32)
        if not same.any():
            break
        pairs = (a[:-gap].T @ (sp.diags(same) @ a[gap:])).tocsr()
        counts = counts + pairs
        t = t + pairs * np.float32(decay ** (gap - 1))
    t = t.tocsr()
    t.setdiag(0)
    t.eliminate_zeros()
    counts = counts.tocsr()
    out_mass = np.asarray(t.sum(axis=1)).ravel()
    scale = np.power(np.maximum(out_mass, 1e-9), -beta).astype(np.float32)
    t = top_k_rows((sp.diags(scale) @ t).tocsr(), k)
    return t, pattern_values(counts, t)
