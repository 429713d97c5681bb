"""Removal requests: interactions, users and items taken out of a dataset (the data side of forgetting).

A :class:`Removal` holds dataset indices (never raw IDs) and is stored as ``.npz`` beside the run that honours
it; ``DataConfig.removal`` points there, so every load of that run's dataset applies it:

* removed ``pairs`` (user, item) leave the training split;
* a removed user loses every interaction in every split, and is unknown to recommendation afterwards;
* a removed item loses every interaction in every split, its row in every feature matrix becomes zero (so
  graphs built from content drop its edges), and it is never ranked again.

User and item indices stay as they were, so a model trained before the removal keeps its shapes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alignrec.errors import DataError
from alignrec.io import atomic_path

EMPTY = np.zeros(0, dtype=np.int64)


@dataclass
class Removal:
    """What to remove, as dataset indices: ``pairs int64 [n, 2]``, ``users int64 [m]``, ``items int64 [k]``."""

    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    users: np.ndarray = field(default_factory=lambda: EMPTY.copy())
    items: np.ndarray = field(default_factory=lambda: EMPTY.copy())

    def __post_init__(self) -> None:
        self.pairs = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
        self.users = np.unique(np.asarray(self.users, dtype=np.int64))
        self.items = np.unique(np.asarray(self.items, dtype=np.int64))

    @property
    def empty(self) -> bool:
        return not (len(self.pairs) or len(self.users) or len(self.items))

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, pairs=self.pairs, users=self.users, items=self.items)

    @classmethod
    def load(cls, path: str | Path) -> Removal:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["pairs"], data["users"], data["items"])
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: not a readable removal file ({exc})") from exc


def ids_digest(ids: list[str]) -> str:
    """SHA-256 of the sorted raw IDs of a request: it identifies the request without listing it."""
    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode()).hexdigest()


def keep_mask(pairs: np.ndarray, removal: Removal, n_items: int, drop_pairs: bool) -> np.ndarray:
    """Bool per row of ``pairs``: False for rows of removed users or items (and removed pairs, if asked)."""
    keep = ~np.isin(pairs[:, 0], removal.users) & ~np.isin(pairs[:, 1], removal.items)
    if drop_pairs and len(removal.pairs):
        keys = pairs[:, 0] * n_items + pairs[:, 1]
        keep &= ~np.isin(keys, removal.pairs[:, 0] * n_items + removal.pairs[:, 1])
    return keep


def items_keeping_every_user(train: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` items of ``order`` whose removal, together, leaves every user at least one training
    interaction (items that would strand a user are skipped): a valid item request of a given kind."""
    by_item = np.argsort(train[:, 1], kind="stable")
    starts = np.searchsorted(train[by_item, 1], np.arange(int(train[:, 1].max()) + 2))
    left = np.bincount(train[:, 0])
    chosen: list[int] = []
    for item in order.tolist():  # one step per candidate item, not per interaction
        users = train[by_item[starts[item]:starts[item + 1]], 0] if item + 1 < len(starts) else train[:0, 0]
        if (left[users] > 1).all():
            left[users] -= 1
            chosen.append(item)
            if len(chosen) == n:
                break
    return np.array(chosen, dtype=np.int64)


def interactions_keeping_every_user(train: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random training pairs (rows of ``train``) such that no user loses all of its training pairs: every
    user keeps one randomly chosen pair out of the draw. A valid interaction request of a given size."""
    order = rng.permutation(len(train))
    users = train[order, 0]
    first = np.unique(users, return_index=True)[1]  # one pair per user, chosen at random, always kept
    eligible = np.delete(order, first)
    return train[np.sort(rng.choice(eligible, size=min(n, len(eligible)), replace=False))]
