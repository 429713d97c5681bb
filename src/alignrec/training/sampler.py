"""Vectorised BPR triple sampling: one uniform negative per positive, outside the user's training items.

Negatives are drawn only from items that have training interactions (as the MMRec toolbox does). Items held out
of training entirely (the cold-start split) are never drawn: pushing exactly the items the cold-start
evaluation asks about to the bottom would bias it low.
"""

from __future__ import annotations

import numpy as np


class BPRSampler:
    """Draws ``(user, positive, negative)`` triples for one epoch with numpy only (no per-row Python).

    ``train`` is ``int64 [n, 2]`` (user, item) pairs; the negative candidates are the distinct items in it.
    """

    def __init__(self, train: np.ndarray, n_items: int, max_rounds: int = 100) -> None:
        self.users = train[:, 0].astype(np.int64)
        self.items = train[:, 1].astype(np.int64)
        self.n_items = int(n_items)
        self.max_rounds = max_rounds
        self._keys = np.sort(self.users * self.n_items + self.items)
        self.candidates = np.unique(self.items)
        # With every item a candidate, candidates[i] == i: draw indices directly (the same random stream).
        self._all_items = len(self.candidates) == self.n_items

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        pos = np.searchsorted(self._keys, keys).clip(max=len(self._keys) - 1)
        return self._keys[pos] == keys

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        picks = rng.integers(0, len(self.candidates), size)
        return picks if self._all_items else self.candidates[picks]

    def epoch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All training interactions in a random order, each with a fresh negative."""
        order = rng.permutation(len(self.users))
        users, pos = self.users[order], self.items[order]
        return users, pos, self.negatives(users, rng)

    def negatives(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One negative item per entry of ``users``: a candidate item that is not among the user's training items
        (after ``max_rounds`` redraws a rare leftover may still be one)."""
        neg = self._draw(rng, len(users))
        bad = self.is_positive(users, neg)
        for _ in range(self.max_rounds):
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            neg[idx] = self._draw(rng, len(idx))
            bad[idx] = self.is_positive(users[idx], neg[idx])
        return neg
