"""Content similarity: TF-IDF over what an item is (title, description, tags, people, kind, level).

This is what gives a brand-new film or course sensible neighbours on day one, before anyone
has bought it. Structured attributes become single tokens (``person:agnès varda``,
``tag:drama``) so that a shared director weighs as one strong, explainable signal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .similarity import top_k_rows

_WORD = re.compile(r"\w{2,}", re.UNICODE)
_STOP = frozenset(
    "the and for with from that this into your you are was were his her their its our of in on at to by an as or "
    "is it be de la le les des du et".split()
)


@dataclass(frozen=True)
class ItemText:
    """What the engine knows about one item's content (all optional)."""

    title: str = ""
    description: str = ""
    kind: str = ""
    tags: Sequence[str] = ()
    people: Mapping[str, Sequence[str]] = field(default_factory=dict)
    level: str = ""
    language: str = ""


def tokens(item: ItemText) -> list[tuple[str, float]]:
    """Weighted tokens of an item: structured attributes count more than free words."""
    out: list[tuple[str, float]] = []
    out += [(f"tag:{t.strip().lower()}", 2.0) for t in item.tags if t.strip()]
    for role, names in item.people.items():
        out += [
            (f"person:{n.strip().lower()}", 3.0 if role in ("director", "instructor", "creator") else 1.5)
            for n in names
        ]
    if item.kind:
        out.append((f"kind:{item.kind}", 1.0))
    if item.level:
        out.append((f"level:{item.level.lower()}", 1.0))
    if item.language:
        out.append((f"lang:{item.language.lower()}", 0.5))
    out += [(w, 1.0) for w in _WORD.findall(item.title.lower()) if w not in _STOP]
    out += [(w, 0.5) for w in _WORD.findall(item.description.lower()) if w not in _STOP]
    return out


def structured_tokens(item: ItemText) -> frozenset[str]:
    """The attributes two items can share in an explanation: people, tags, level."""
    return frozenset(t for t, _ in tokens(item) if t.startswith(("person:", "tag:", "level:")))


def tfidf(items: Sequence[ItemText], *, max_df: float = 0.3) -> tuple[sp.csr_matrix, list[str]]:
    """Row-normalised TF-IDF matrix (items x vocabulary) and the vocabulary."""
    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, item in enumerate(items):
        weights: dict[int, float] = {}
        for token, w in tokens(item):
            j = vocab.setdefault(token, len(vocab))
            weights[j] = weights.get(j, 0.0) + w
        rows += [i] * len(weights)
        cols += list(weights)
        vals += list(weights.values())
    m = sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(len(items), len(vocab)))
    df = np.bincount(m.indices, minlength=len(vocab)).astype(np.float32)
    n = max(len(items), 1)
    idf = np.log((1 + n) / (1 + df)) + 1.0
    idf[df > max_df * n] = 0.0  # words on a third of the catalogue say nothing about similarity
    m = m @ sp.diags(idf.astype(np.float32))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    m = sp.diags(1.0 / np.maximum(norms, 1e-9)) @ m
    m = m.tocsr()
    m.eliminate_zeros()
    names = [""] * len(vocab)
    for token, j in vocab.items():
        names[j] = token
    return m, names


def content_neighbours(matrix: sp.csr_matrix, *, k: int = 50, chunk: int = 2048) -> sp.csr_matrix:
    """Cosine similarity between items, top-K per row, computed in chunks to bound memory."""
    parts = []
    t = matrix.T.tocsc()
    for start in range(0, matrix.shape[0], chunk):
        block = (matrix[start : start + chunk] @ t).tocsr()
        _zero_self(block, start)
        parts.append(top_k_rows(block, k))
    return sp.vstack(parts).tocsr() if parts else sp.csr_matrix((0, 0), dtype=np.float32)


def _zero_self(block: sp.csr_matrix, start: int) -> None:
    for r in range(block.shape[0]):
        s, e = block.indptr[r], block.indptr[r + 1]
        block.data[s:e][block.indices[s:e] == start + r] = 0.0
    block.eliminate_zeros()
