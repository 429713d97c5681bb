"""Membership inference against a recommender: can its scores tell training pairs from pairs it never saw?

The attack used to verify unlearning (as in the recommendation-unlearning literature, e.g. Chen et al.,
"Recommendation Unlearning", WWW 2022, and MMRecUn, arXiv 2405.15328): for each pair, the attacker reads the
item's percentile among all items in the user's ranking (so users whose scores run larger or smaller are
comparable) and ranks pairs by it. Its AUC separating the members (pairs that were asked to be forgotten) from
non-members (pairs never in the data) is 0.5 when the model holds nothing that marks the members.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def score_percentiles(user_scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """For each row ``r`` of ``user_scores [n, n_items]``, the share of items scored below ``items[r]``."""
    target = user_scores[np.arange(len(items)), items]
    return (user_scores < target[:, None]).mean(axis=1)


def auc(members: np.ndarray, non_members: np.ndarray) -> float:
    """Probability that a random member scores above a random non-member (ties count half): Mann-Whitney AUC."""
    m, n = len(members), len(non_members)
    if not m or not n:
        return float("nan")
    ranks = stats.rankdata(np.concatenate([members, non_members]))
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))


def never_seen_items(users: np.ndarray, seen: np.ndarray, n_items: int, excluded: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """One item per entry of ``users`` that the user never interacted with (``seen``: ``int64 [n, 2]`` every
    known (user, item) pair) and that is not in ``excluded``."""
    allowed = np.setdiff1d(np.arange(n_items), excluded)
    keys = np.unique(seen[:, 0] * n_items + seen[:, 1])
    out = allowed[rng.integers(0, len(allowed), len(users))]
    bad = np.isin(users * n_items + out, keys)
    for _ in range(100):
        if not bad.any():
            break
        out[bad] = allowed[rng.integers(0, len(allowed), int(bad.sum()))]
        bad = np.isin(users * n_items + out, keys)
    return out
