"""Pure, vectorised split and filter functions over interaction arrays.

Every function takes integer arrays (one entry per interaction) and returns a label array or a keep mask;
none loops in Python over interactions.
"""

from __future__ import annotations

import numpy as np

TRAIN, VALID, TEST = 0, 1, 2


def rank_within_user(users: np.ndarray, order_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, per interaction, its 0-based rank inside its user (by ``order_key``) and the user's count."""
    order = np.lexsort((order_key, users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts_per_group = np.diff(np.r_[starts, len(users)])
    group_start = np.repeat(starts, counts_per_group)
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - group_start
    count = np.empty(len(users), dtype=np.int64)
    count[order] = np.repeat(counts_per_group, counts_per_group)
    return rank, count


def random_split(users: np.ndarray, seed: int, rounding: str = "floor") -> np.ndarray:
    """Seeded per-user 8:1:1 split: each user's interactions in a random order, the last ones held out.

    How a user's ``n`` interactions are divided:

    * ``n >= 10``, ``rounding="floor"`` (default): ``floor(0.1 n)`` to validation and ``floor(0.1 n)`` to test,
      the rest (at least 80%) to training; e.g. n = 19 gives 17 / 1 / 1.
    * ``n >= 10``, ``rounding="mmrec"`` (the MMRec toolbox's rule): ``int(0.2 n)`` are held out, ``int(0.2 n) // 2``
      of them to validation and the rest to test; e.g. n = 19 gives 16 / 1 / 2.
    * ``3 <= n < 10``: one validation and one test interaction, the rest training (both roundings).
    * ``n < 3``: everything in training.
    """
    rng = np.random.default_rng(seed)
    rank, count = rank_within_user(users, rng.random(len(users)))
    if rounding == "floor":
        n_valid = n_test = np.floor(count * 0.1).astype(np.int64)
    elif rounding == "mmrec":
        held_out = (count * 0.2).astype(np.int64)
        n_valid, n_test = held_out // 2, held_out - held_out // 2
    else:
        raise ValueError(f"rounding must be 'floor' or 'mmrec', got {rounding!r}")
    small = count < 10
    n_valid, n_test = np.where(small, 1, n_valid), np.where(small, 1, n_test)
    return _label_from_tail(rank, count, n_valid, n_test)


def time_split(users: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Leave-last-two-out: each user's last interaction is test, the second last valid (ties keep file order).

    Users with fewer than 3 interactions keep everything in train.
    """
    position = np.arange(len(users))
    order_key = np.lexsort((position, timestamps))
    key = np.empty(len(users), dtype=np.int64)
    key[order_key] = np.arange(len(users))
    rank, count = rank_within_user(users, key)
    ones = np.ones(len(users), dtype=np.int64)
    return _label_from_tail(rank, count, ones, ones)


def _label_from_tail(rank: np.ndarray, count: np.ndarray, n_valid: np.ndarray, n_test: np.ndarray) -> np.ndarray:
    labels = np.full(len(rank), TRAIN, dtype=np.int8)
    eligible = count >= 3
    from_end = count - rank  # 1 for the last interaction
    labels[eligible & (from_end <= n_test)] = TEST
    labels[eligible & (from_end > n_test) & (from_end <= n_test + n_valid)] = VALID
    return labels


def k_core_mask(users: np.ndarray, items: np.ndarray, k: int, max_rounds: int = 100) -> np.ndarray:
    """Keep mask for iterative k-core filtering: every kept user and item has at least ``k`` interactions."""
    keep = np.ones(len(users), dtype=bool)
    if k <= 1:
        return keep
    for _ in range(max_rounds):
        u_count = np.bincount(users[keep], minlength=users.max() + 1)
        i_count = np.bincount(items[keep], minlength=items.max() + 1)
        new_keep = keep & (u_count[users] >= k) & (i_count[items] >= k)
        if new_keep.sum() == keep.sum():
            return new_keep
        keep = new_keep
    return keep


def first_occurrence_mask(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """True for the first occurrence of each (user, item) pair in file order."""
    key = users.astype(np.int64) * int(n_items) + items.astype(np.int64)
    _, first = np.unique(key, return_index=True)
    mask = np.zeros(len(key), dtype=bool)
    mask[first] = True
    return mask


def training_slice_mask(users: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded ``bool`` mask of about ``fraction`` of the training interactions, held out as a selection slice.

    Each user keeps at least one interaction outside the slice, so every user still has a profile. Stage-1
    pre-training selects its checkpoint on this slice (``pretrain.select = "train_slice"``), leaving the real
    validation split to stage 2 alone.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the training slice's fraction must be in (0, 1), got {fraction}")
    keys = np.random.default_rng(seed).random(len(users))
    rank, _ = rank_within_user(users, keys)
    return (keys < fraction) & (rank > 0)
