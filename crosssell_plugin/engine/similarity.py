"""Item-item similarity matrices: co-purchase (weighted, top-K pruned), EASE, sequential, content."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .interactions import Interactions


def top_k_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (ties broken by column index, deterministic)."""
    m = sp.csr_matrix(m, dtype=np.float32)
    m.eliminate_zeros()
    indptr, indices, data = [0], [], []
    for row in range(m.shape[0]):
        start, end = m.indptr[row], m.indptr[row + 1]
        cols, vals = m.indices[start:end], m.data[start:end]
        if len(vals) > k:
            keep = np.lexsort((cols, -vals))[:k]
            cols, vals = cols[keep], vals[keep]
        order = np.argsort(cols, kind="stable")
        indices.append(cols[order])
        data.append(vals[order])
        indptr.append(indptr[-1] + len(cols))
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.array([], np.float32),
            np.concatenate(indices) if indices else np.array([], np.int32),
            np.array(indptr),
        ),
        shape=m.shape,
    )


def pattern_values(values: sp.csr_matrix, pattern: sp.csr_matrix) -> sp.csr_matrix:
    """``values`` restricted to the non-zero positions of ``pattern``."""
    mask = pattern.copy()
    mask.data = np.ones_like(mask.data)
    out = sp.csr_matrix(values.multiply(mask), dtype=np.float32)
    out.eliminate_zeros()
    return out


def cooccurrence_with_counts(
    data: Interactions, *, k: int = 100, alpha: float = 0.5, shrink: float = 10.0
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Co-purchase similarity and, on the same pairs, how many customers bought both.

    Similarity is the asymmetric cosine C_ij / (n_i^alpha * n_j^(1-alpha) + shrink), top-K per row:
    row i holds the items bought by buyers of i. Sparse throughout, so it scales with the number of
    interactions, not with items squared.
    """
    x = data.binary
    c = (x.T @ x).tocsr().astype(np.float32)
    c.setdiag(0)
    c.eliminate_zeros()
    sim = _asymmetric_cosine(c, data.item_counts, alpha, shrink)
    sim = top_k_rows(sim, k)
    return sim, pattern_values(c, sim)


def _asymmetric_cosine(c: sp.csr_matrix, counts: np.ndarray, alpha: float, shrink: float) -> sp.csr_matrix:
    c = c.copy()
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))
    denom = np.power(counts[rows], alpha) * np.power(counts[c.indices], 1 - alpha) + shrink
    c.data = (c.data / denom).astype(np.float32)
    return c


def ease(data: Interactions, *, lam: float = 200.0) -> np.ndarray:
    """EASE (Steck 2019): the closed-form linear item model, dense n_items x n_items float32."""
    x = data.binary
    g = (x.T @ x).toarray().astype(np.float64)
    diag = np.diag_indices_from(g)
    g[diag] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    b[diag] = 0.0
    return b.astype(np.float32)


def transitions_with_counts(
    data: Interactions, *, window: int = 5, decay: float = 0.6, beta: float = 0.5, k: int = 100
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """What buyers of X buy next: T_ij = sum over users of decay^(steps-1) for j bought after i.

    Items of one order (same user and time) count as one step apart in both directions. Row i is
    normalised by (outgoing mass of i)^beta so that popular triggers do not dominate. Top-K per row.
    """
    first = data.first_occurrences()
    users, items, times = first.users, first.items, first.times
    n = data.n_items
    # Position of each event within its user's sequence, counting orders (equal times) as one step.
    new_user = np.r_[True, users[1:] != users[:-1]]
    new_step = new_user | np.r_[True, times[1:] != times[:-1]]
    step = np.cumsum(new_step)
    step = step - np.maximum.accumulate(np.where(new_user, step, 0))
    rows, cols, vals, later = [], [], [], []
    for offset in range(1, window * 4 + 1):
        if offset >= len(users):
            break
        a, b = slice(0, len(users) - offset), slice(offset, len(users))
        same = users[a] == users[b]
        gap = (step[b] - step[a])[same]
        ok = (gap >= 0) & (gap <= window)
        src, dst = items[a][same][ok], items[b][same][ok]
        weight = np.power(decay, np.maximum(gap[ok] - 1, 0)).astype(np.float32)
        together = gap[ok] == 0  # same order: also the other direction
        rows += [src, dst[together]]
        cols += [dst, src[together]]
        vals += [weight, weight[together]]
        later += [~together, np.zeros(int(together.sum()), bool)]
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        is_later = np.concatenate(later)
    else:
        r = c = np.array([], np.int32)
        v = np.array([], np.float32)
        is_later = np.array([], bool)
    t = sp.csr_matrix((v, (r, c)), shape=(n, n), dtype=np.float32)
    t.sum_duplicates()
    t.setdiag(0)
    t.eliminate_zeros()
    # customers who bought column j in a later order, within ``window`` orders after row i
    counts = sp.csr_matrix((np.ones(int(is_later.sum()), np.float32), (r[is_later], c[is_later])), shape=(n, n))
    counts.sum_duplicates()
    out_mass = np.asarray(t.sum(axis=1)).ravel()
    scale = np.power(np.maximum(out_mass, 1e-9), -beta).astype(np.float32)
    t = top_k_rows((sp.diags(scale) @ t).tocsr(), k)
    return t, pattern_values(counts, t)
