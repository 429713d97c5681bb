"""Top-K ranking metrics as pure functions of a hit matrix.

``hits`` is a ``bool [n_users, K]`` matrix: ``hits[u, r]`` is True when the item at rank ``r`` (0-based)
of user ``u``'s list is one of that user's test items; ``n_relevant[u]`` is the number of test items.
All functions return one value per user; averaging over users is left to the caller.
"""

from __future__ import annotations

import numpy as np


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top ``k`` divided by the user's number of test items."""
    return hits[:, :k].sum(axis=1) / np.maximum(n_relevant, 1)


def precision_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top ``k`` divided by ``k``."""
    return hits[:, :k].sum(axis=1) / k


def hit_rate_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """1 when at least one test item is in the top ``k``."""
    return hits[:, :k].any(axis=1).astype(np.float64)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Binary-relevance NDCG: DCG of the list over the DCG of ``min(n_relevant, k)`` hits at the top."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits[:, :k] * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return np.where(n_relevant > 0, dcg / ideal, 0.0)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Average precision at ``k``: mean of precision@r over the ranks r of hits, divided by ``min(n_rel, k)``."""
    h = hits[:, :k].astype(np.float64)
    precision_at_rank = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    return (precision_at_rank * h).sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1)


METRIC_FUNCTIONS = {
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "precision": precision_at_k,
    "map": map_at_k,
    "hit": hit_rate_at_k,
}


def per_user_metrics(hits: np.ndarray, n_relevant: np.ndarray, ks: list[int]) -> dict[str, np.ndarray]:
    """Every metric at every ``k``, per user: ``{"recall@20": float64 [n_users], ...}``.

    The same numbers as the functions above, summed over the hits only (a few per user, where the list holds ``K``
    ranks): each hit adds 1 to the hit count, its discount to the DCG and the precision at its rank to the average
    precision of every ``k`` past its rank.
    """
    k_max = max(ks)
    n_users = len(hits)
    users, ranks = np.nonzero(hits[:, :k_max])  # row-major: a user's hits in rank order
    first_hit = np.searchsorted(users, np.arange(n_users))
    found_so_far = np.arange(1, len(users) + 1) - first_hit[users]  # hits up to and including this one
    discount = 1.0 / np.log2(ranks + 2.0)
    precision = found_so_far / (ranks + 1.0)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k_max + 2)))
    out: dict[str, np.ndarray] = {}
    for k in ks:
        within = ranks < k
        at = users[within]
        found = np.bincount(at, minlength=n_users).astype(np.float64)
        gain = np.bincount(at, weights=discount[within], minlength=n_users)
        precision_sum = np.bincount(at, weights=precision[within], minlength=n_users)
        relevant_in_k = np.minimum(n_relevant, k)
        ideal_k = ideal[np.clip(relevant_in_k - 1, 0, None)]
        out[f"recall@{k}"] = found / np.maximum(n_relevant, 1)
        out[f"ndcg@{k}"] = np.where(n_relevant > 0, gain / ideal_k, 0.0)
        out[f"precision@{k}"] = found / k
        out[f"map@{k}"] = precision_sum / np.maximum(relevant_in_k, 1)
        out[f"hit@{k}"] = (found > 0).astype(np.float64)
    return out
