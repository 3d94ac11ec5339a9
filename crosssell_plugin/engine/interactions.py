"""Interaction data as arrays: who bought (or watched) what, when, and how much it counts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Interactions:
    """One row per (user, item, time) event; indices are dense 0..n-1 ids.

    ``weights`` lets a partial watch count less than a purchase; ``times`` are unix seconds.
    Events with the same user and time belong to one order (bought together).
    """

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray
    weights: np.ndarray
    n_users: int
    n_items: int

    @classmethod
    def from_arrays(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        times: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        n_users: int | None = None,
        n_items: int | None = None,
    ) -> Interactions:
        users = np.asarray(users, dtype=np.int32)
        items = np.asarray(items, dtype=np.int32)
        times = np.asarray(times, dtype=np.float64)
        weights = np.ones(len(users), np.float32) if weights is None else np.asarray(weights, np.float32)
        if not (len(users) == len(items) == len(times) == len(weights)):
            raise ValueError("users, items, times and weights must have the same length")
        if len(users) and (users.min() < 0 or items.min() < 0):
            raise ValueError("user and item indices must be non-negative")
        n_users = int(users.max(initial=-1)) + 1 if n_users is None else n_users
        n_items = int(items.max(initial=-1)) + 1 if n_items is None else n_items
        if len(users) and (users.max() >= n_users or items.max() >= n_items):
            raise ValueError("an index is out of range of n_users / n_items")
        order = np.lexsort((items, times, users))  # by user, then time, then item: deterministic
        return cls(users[order], items[order], times[order], weights[order], n_users, n_items)

    def __len__(self) -> int:
        return len(self.users)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Users x items, the strongest weight of each pair (a repeat purchase is still one item)."""
        m = sp.csr_matrix(
            (self.weights, (self.users, self.items)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sum_duplicates()
        m.data = np.minimum(m.data, self.weights.max(initial=1.0))
        return m

    @cached_property
    def binary(self) -> sp.csr_matrix:
        m = self.matrix.copy()
        m.data = np.ones_like(m.data)
        return m

    @cached_property
    def item_counts(self) -> np.ndarray:
        """How many distinct users have each item."""
        return np.asarray(self.binary.sum(axis=0)).ravel().astype(np.float32)

    def first_occurrences(self) -> Interactions:
        """The same events keeping only each user's first contact with each item."""
        key = self.users.astype(np.int64) * self.n_items + self.items
        _, first = np.unique(key, return_index=True)
        first.sort()
        return Interactions(
            self.users[first], self.items[first], self.times[first], self.weights[first], self.n_users, self.n_items
        )

    @cached_property
    def order_index(self) -> np.ndarray:
        """Per event, the number of its order (0, 1, ...): events of one user and time are one
        order, and events are kept sorted by user, then time."""
        if not len(self.users):
            return np.zeros(0, np.int64)
        new = np.r_[True, (self.users[1:] != self.users[:-1]) | (self.times[1:] != self.times[:-1])]
        return np.cumsum(new) - 1

    @property
    def end_time(self) -> float:
        return float(self.times.max()) if len(self.times) else 0.0
