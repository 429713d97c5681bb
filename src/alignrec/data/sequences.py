"""The sequential track's data: each user's interactions in order, leave-one-out labels, and fixed-length histories.

Pure, vectorised numpy (no Python loop over interactions). A :class:`Sequences` holds every user's items oldest
first in CSR style; a history is the last ``max_len`` items of a sequence, right-aligned in a row of ``max_len``
(the last column is the most recent item) and padded on the left with :data:`PAD`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignrec.data.split import time_split
from alignrec.errors import DataError

PAD = -1  # the padding entry of a history; never an item index


def chronological_order(n: int, timestamps: np.ndarray | None) -> np.ndarray:
    """Row order ``int64 [n]`` by timestamp, ties broken by file position; the file's order without timestamps.

    Where a file's timestamp is a per-user ordinal (``amazon-scientific``: 0, 1, 2, ... in each user's rows) this
    is each user's file order."""
    position = np.arange(n)
    if timestamps is None:
        return position
    return np.lexsort((position, timestamps))


def leave_one_out_labels(users: np.ndarray, labels: np.ndarray | None, lines: np.ndarray, path: Path) -> np.ndarray:
    """Labels ``int8 [n]`` for rows already in chronological order: each user's last interaction test, the second
    last valid, the rest train (users with fewer than 3 keep all in train).

    A file's own ``x_label`` (0 train, 1 valid, 2 test) is used where present, as the dataset's published split,
    but it must respect the order: no user's training row after their valid or test row, no valid row after a
    test row (else later interactions would be history of earlier targets); a row that breaks it is an error
    naming its line. (``amazon-scientific``'s labels are leave-last-two-out; where duplicate removal dropped a
    repeated validation row, that user has a test item and no validation item.)"""
    if labels is None:
        return time_split(users, np.arange(len(users)))
    by_user = np.argsort(users, kind="stable")
    same_user = users[by_user][1:] == users[by_user][:-1]
    backwards = np.flatnonzero(same_user & (labels[by_user][1:] < labels[by_user][:-1]))
    if len(backwards):
        row = by_user[backwards + 1]
        first = row[np.argmin(lines[row])]
        raise DataError(f"{path}: line {int(lines[first])}: x_label {int(labels[first])} comes after a later split's "
                        f"row of the same user in time order; the sequential track ('leave_one_out') needs each "
                        f"user's train rows, then valid, then test ({len(backwards)} such row(s))")
    return labels


@dataclass(frozen=True)
class Sequences:
    """Every user's items, oldest first: user ``u``'s are ``items[indptr[u]:indptr[u + 1]]``.

    ``indptr`` is ``int64 [n_users + 1]``, ``items`` ``int64 [n]``."""

    indptr: np.ndarray
    items: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    def lengths(self) -> np.ndarray:
        """Items per user, ``int64 [n_users]``."""
        return np.diff(self.indptr)

    def of(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user]:self.indptr[user + 1]]

    def user_of_each(self) -> np.ndarray:
        """The user of each entry of ``items``, ``int64 [n]``."""
        return np.repeat(np.arange(self.n_users), self.lengths())


def user_sequences(pairs: np.ndarray, n_users: int) -> Sequences:
    """Sequences from ``(user, item)`` pairs ``int64 [n, 2]`` given in chronological order (a stable sort by user
    keeps each user's order)."""
    order = np.argsort(pairs[:, 0], kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(pairs[:, 0], minlength=n_users))].astype(np.int64)
    return Sequences(indptr, pairs[order, 1].astype(np.int64))


def append_items(seqs: Sequences, pairs: np.ndarray) -> Sequences:
    """``seqs`` with each pair's item put after its user's sequence (pairs of one user in their given order)."""
    users = np.concatenate([seqs.user_of_each(), pairs[:, 0]])
    return user_sequences(np.stack([users, np.concatenate([seqs.items, pairs[:, 1]])], axis=1), seqs.n_users)


def last_items(seqs: Sequences, users: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``max_len`` items of each user's sequence: histories ``int64 [len(users), max_len]``
    right-aligned, :data:`PAD` on the left, and their lengths ``int64 [len(users)]``."""
    users = np.asarray(users, dtype=np.int64)
    ends = seqs.indptr[users + 1]
    lengths = np.minimum(ends - seqs.indptr[users], max_len)
    offset = np.arange(max_len)[None, :] - (max_len - lengths)[:, None]  # < 0: padding
    if not len(seqs.items):
        return np.full((len(users), max_len), PAD, dtype=np.int64), lengths
    index = np.clip(ends[:, None] - lengths[:, None] + offset, 0, len(seqs.items) - 1)
    return np.where(offset >= 0, seqs.items[index], PAD), lengths


def training_windows(seqs: Sequences, users: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Next-item training pairs from the last ``max_len + 1`` items of each user: ``inputs`` and ``targets``, both
    ``int64 [len(users), max_len]`` right-aligned; ``targets[:, t]`` is the item after ``inputs[:, t]``, and a
    position whose input is :data:`PAD` has no target to learn."""
    window, _ = last_items(seqs, users, max_len + 1)
    inputs, targets = window[:, :-1], window[:, 1:]
    return inputs, np.where(inputs == PAD, PAD, targets)


def sample_negatives(seqs: Sequences, users: np.ndarray, shape: tuple[int, ...], n_items: int,
                     rng: np.random.Generator, max_rounds: int = 20) -> np.ndarray:
    """Uniform negative items ``int64 [len(users), *shape[1:]]``, each outside its row's user's sequence (after
    ``max_rounds`` redraws a rare leftover may still be one)."""
    keys = np.sort(seqs.user_of_each() * n_items + seqs.items)
    row_users = np.broadcast_to(np.asarray(users, dtype=np.int64).reshape(-1, *([1] * (len(shape) - 1))), shape)

    def inside(u: np.ndarray, items: np.ndarray) -> np.ndarray:
        if not len(keys):
            return np.zeros(items.shape, dtype=bool)
        k = u * n_items + items
        return keys[np.searchsorted(keys, k).clip(max=len(keys) - 1)] == k

    neg = rng.integers(0, n_items, shape)
    bad = inside(row_users, neg)
    for _ in range(max_rounds):
        if not bad.any():
            break
        neg[bad] = rng.integers(0, n_items, int(bad.sum()))
        bad[bad] = inside(row_users[bad], neg[bad])
    return neg


def history_before(train: np.ndarray, valid: np.ndarray, part: str, n_users: int) -> Sequences:
    """What each user had done before their ``part`` target: the training sequence for ``"valid"``, the training
    sequence then the validation item for ``"test"``. ``train`` / ``valid`` are a leave-one-out split's pairs."""
    seqs = user_sequences(train, n_users)
    if part == "valid":
        return seqs
    if part == "test":
        return append_items(seqs, valid)
    raise ValueError(f"part must be 'valid' or 'test', got {part!r}")


__all__ = ["PAD", "Sequences", "append_items", "chronological_order", "history_before", "last_items",
           "leave_one_out_labels", "sample_negatives", "training_windows", "user_sequences"]
