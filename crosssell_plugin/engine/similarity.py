"""Item-item similarity matrices: co-purchase (weighted, top-K pruned), EASE, sequential, content."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .interactions import Interactions

#: dense row blocks of at most this many cells are used to find each row's top K
DENSE_BLOCK_CELLS = 16_000_000
#: catalogues up to this many items count their item pairs in dense arrays (n^2 float32 each:
#: 256 MB at 8,000 items); on such catalogues most pairs occur and sparse products cost more
DENSE_MAX_ITEMS = 8000


def dense_ok(n_items: int) -> bool:
    """Whether item-item counts of a catalogue of ``n_items`` are kept dense while fitting."""
    return 0 < n_items <= DENSE_MAX_ITEMS


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
    parts = [_block_top_k(m[start : start + block].toarray(), k, start) for start in range(0, n_rows, block)]
    return _from_parts(parts, m.shape)


def top_k_dense(dense: np.ndarray, k: int) -> sp.csr_matrix:
    """:func:`top_k_rows` of a dense matrix (only positive entries are kept), as CSR."""
    n_rows, n_cols = dense.shape
    if k >= n_cols:
        out = sp.csr_matrix(np.maximum(dense, 0), dtype=np.float32)
        out.sort_indices()
        return out
    block = max(1, DENSE_BLOCK_CELLS // max(n_cols, 1))
    parts = [_block_top_k(dense[start : start + block], k, start) for start in range(0, n_rows, block)]
    return _from_parts(parts, dense.shape)


def _block_top_k(dense: np.ndarray, k: int, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, values) of each row's ``k`` largest positive entries; ties at the k-th
    value go to the lower column index (exact and deterministic)."""
    cols = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(dense, cols, axis=1).min(axis=1)
    above = dense > kth[:, None]
    n_above = above.sum(axis=1)
    flat = np.flatnonzero(above)
    rows_idx, cols_idx = [flat // dense.shape[1]], [flat % dense.shape[1]]
    # rows whose k-th value is tied with entries left out: take the lowest columns among the ties
    short = np.flatnonzero((kth > 0) & (n_above < k))
    for r in short:
        ties = np.flatnonzero(dense[r] == kth[r])[: k - int(n_above[r])]
        rows_idx.append(np.full(len(ties), r))
        cols_idx.append(ties)
    r_all, c_all = np.concatenate(rows_idx), np.concatenate(cols_idx)
    return r_all + start, c_all, dense[r_all, c_all]


def _from_parts(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], shape: tuple[int, int]) -> sp.csr_matrix:
    r = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    v = np.concatenate([p[2] for p in parts]).astype(np.float32)
    keep = v > 0
    out = sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=shape)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def pattern_values(values: sp.csr_matrix | np.ndarray, pattern: sp.csr_matrix) -> sp.csr_matrix:
    """``values`` (sparse or dense) restricted to the non-zero positions of ``pattern``."""
    if isinstance(values, np.ndarray):
        pattern = sp.csr_matrix(pattern)
        pattern.sum_duplicates()
        rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
        picked = values[rows, pattern.indices].astype(np.float32)
        out = sp.csr_matrix((picked, pattern.indices.copy(), pattern.indptr.copy()), shape=pattern.shape)
    else:
        mask = pattern.copy()
        mask.data = np.ones_like(mask.data)
        out = sp.csr_matrix(values.multiply(mask), dtype=np.float32)
    out.eliminate_zeros()
    return out


def _dense_gram(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """``a.T @ b`` as a dense float32 array, summed over row blocks of ``b`` small enough to
    hold densely (``a`` and ``b`` have the same rows)."""
    out = np.zeros((a.shape[1], b.shape[1]), np.float32)
    block = max(1, DENSE_BLOCK_CELLS // max(b.shape[1], 1))
    for start in range(0, b.shape[0], block):
        part = b[start : start + block]
        if part.nnz:
            out += a[start : start + block].T @ part.toarray()
    return out


def customer_pairs(data: Interactions, *, dense: bool | None = None) -> sp.csr_matrix | np.ndarray:
    """Customers who bought both items, every pair (items x items, zero diagonal): a dense
    float32 array on catalogues of :func:`dense_ok` size (unless ``dense`` says), else sparse."""
    x = data.binary
    if dense if dense is not None else dense_ok(data.n_items):
        d = _dense_gram(x, x)
        np.fill_diagonal(d, 0.0)
        return d
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
    pairs: sp.csr_matrix | np.ndarray | None = None,
) -> sp.csr_matrix:
    """Co-purchase similarity C_ij / (n_i^alpha * n_j^(1-alpha) + shrink), top-K per row;
    ``pairs``: :func:`customer_pairs` of ``data`` if already computed."""
    c = customer_pairs(data) if pairs is None else pairs
    return _top_k(_asymmetric_cosine(c, data.item_counts, alpha, shrink), k)


def _top_k(m: sp.csr_matrix | np.ndarray, k: int) -> sp.csr_matrix:
    return top_k_dense(m, k) if isinstance(m, np.ndarray) else top_k_rows(m, k)


def cooccurrence_with_counts(
    data: Interactions,
    *,
    k: int = 100,
    alpha: float = 0.5,
    shrink: float = 10.0,
    pairs: sp.csr_matrix | np.ndarray | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Co-purchase similarity and, on the same pairs, how many customers bought both.

    Similarity is the asymmetric cosine C_ij / (n_i^alpha * n_j^(1-alpha) + shrink), top-K per row:
    row i holds the items bought by buyers of i. Sparse throughout, so it scales with the number of
    interactions, not with items squared.
    """
    c = customer_pairs(data) if pairs is None else pairs
    sim = cooccurrence(data, k=k, alpha=alpha, shrink=shrink, pairs=c)
    return sim, pattern_values(c, sim)


def _asymmetric_cosine(
    c: sp.csr_matrix | np.ndarray, counts: np.ndarray, alpha: float, shrink: float
) -> sp.csr_matrix | np.ndarray:
    """C_ij / (n_i^alpha * n_j^(1-alpha) + shrink); a dense ``c`` gives a new dense array."""
    counts = np.asarray(counts, np.float32)
    if isinstance(c, np.ndarray):
        denom = np.power(counts, alpha)[:, None] * np.power(counts, 1 - alpha)[None, :]
        denom += shrink
        return np.divide(c, denom, out=denom, where=denom > 0)
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
    order = data.order_index
    o = sp.csr_matrix((np.ones(len(order), np.float32), (order, data.items)), shape=(int(order[-1]) + 1, n))
    o.sum_duplicates()
    o.data[:] = 1.0
    sizes = np.diff(o.indptr).astype(np.float64)
    weight = np.where((sizes >= 2) & (sizes <= max_size), np.power(np.maximum(sizes, 1.0), -size_power), 0.0)
    ow = sp.diags(weight.astype(np.float32)) @ o
    counts = np.asarray(ow.sum(axis=0)).ravel().astype(np.float32)
    c: sp.csr_matrix | np.ndarray
    if dense_ok(n):
        c = _dense_gram(o, ow)
        np.fill_diagonal(c, 0.0)
    else:
        c = (o.T @ ow).tocsr().astype(np.float32)
        c.setdiag(0)
        c.eliminate_zeros()
    return _top_k(_asymmetric_cosine(c, counts, alpha, shrink), k)


def ease_top_k(
    data: Interactions,
    *,
    lam: float = 200.0,
    k: int = 200,
    negative: int = 100,
    pairs: sp.csr_matrix | np.ndarray | None = None,
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


def recency_matrix(data: Interactions, half_life_orders: float) -> sp.csr_matrix:
    """Users x items, each pair weighted by how recently the customer last bought the item:
    0.5^(orders back / half-life), the customer's latest order = 0 (so 1.0)."""
    n_users, n_items = data.n_users, data.n_items
    if not len(data):
        return sp.csr_matrix((n_users, n_items), dtype=np.float32)
    order = data.order_index
    last = np.zeros(n_users, np.int64)
    np.maximum.at(last, data.users, order)
    weight = np.power(0.5, (last[data.users] - order) / max(float(half_life_orders), 1e-6))
    # events are sorted by user, then time: the last event of a (user, item) is its latest purchase
    key = data.users.astype(np.int64) * n_items + data.items
    sorted_keys = np.argsort(key, kind="stable")
    ends = np.r_[key[sorted_keys][1:] != key[sorted_keys][:-1], True]
    latest = sorted_keys[ends]
    return sp.csr_matrix(
        (weight[latest].astype(np.float32), (data.users[latest], data.items[latest])),
        shape=(n_users, n_items),
        dtype=np.float32,
    )


def ease_recent_top_k(
    data: Interactions, *, half_life_orders: float = 3.0, lam: float = 200.0, k: int = 200, negative: int = 100
) -> sp.csr_matrix:
    """EASE fitted on :func:`recency_matrix` instead of the binary one: pairs a customer bought
    lately weigh more, so the model leans to what goes with the latest purchases. Sparse top-K
    rows as :func:`ease_top_k`."""
    x = recency_matrix(data, half_life_orders)
    g = _dense_gram(x, x)
    g[np.diag_indices_from(g)] += np.float32(lam)
    p = _spd_inverse(g)
    del g
    p /= -np.diag(p)[None, :]
    np.fill_diagonal(p, 0.0)
    return dense_top_k_rows(p.astype(np.float32, copy=False), k, negative)


def ease(data: Interactions, *, lam: float = 200.0, pairs: sp.csr_matrix | np.ndarray | None = None) -> np.ndarray:
    """EASE (Steck 2019): the closed-form linear item model, dense n_items x n_items float32.

    ``pairs``: :func:`customer_pairs` of ``data`` if already computed (the Gram matrix is those
    plus the buyers of each item on the diagonal)."""
    if pairs is None:
        g = customer_pairs(data, dense=True)
    elif isinstance(pairs, np.ndarray):
        g = pairs.astype(np.float32, copy=True)
    else:
        g = pairs.toarray().astype(np.float32)
    g[np.diag_indices_from(g)] = np.asarray(data.item_counts, np.float32) + np.float32(lam)
    p = _spd_inverse(g)
    del g
    p /= -np.diag(p)[None, :]
    np.fill_diagonal(p, 0.0)
    return p.astype(np.float32, copy=False)


def _spd_inverse(g: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix: Cholesky in float32 (a quarter of the
    work of a float64 LU inverse; EASE's ridge keeps it well conditioned), float64 LU if that fails."""
    from scipy.linalg import lapack

    factor, info = lapack.spotrf(np.asarray(g, np.float32), lower=1, overwrite_a=0)
    if info == 0:
        inverse, info = lapack.spotri(factor, lower=1, overwrite_c=1)
        if info == 0:
            return _symmetrize_lower(inverse)
    return np.linalg.inv(np.asarray(g, np.float64)).astype(np.float32)


def _symmetrize_lower(m: np.ndarray, block: int = 512) -> np.ndarray:
    """Copy the lower triangle of a square array onto its upper one, in place, by blocks."""
    n = m.shape[0]
    for start in range(0, n, block):
        end = min(start + block, n)
        diagonal = m[start:end, start:end]
        diagonal[...] = np.tril(diagonal) + np.tril(diagonal, -1).T
        m[start:end, end:] = m[end:, start:end].T
    return m


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
