"""Beyond-accuracy metrics of top-K lists, and the cold-start item evaluation.

Each metric is a pure function of a ``int [n_users, K]`` matrix of recommended item indices:

* catalogue coverage@K: share of the catalogue that appears in at least one list (Ge, Delgado-Battenfeld,
  Jannach, "Beyond accuracy: evaluating recommender systems by coverage and serendipity", RecSys 2010);
* Gini index of how often each catalogue item is recommended (0: every item equally often; 1: one item
  takes every slot), as used for recommendation diversity by Adomavicius and Kwon, "Improving Aggregate
  Recommendation Diversity Using Ranking-Based Techniques", TKDE 2012;
* average recommendation popularity (ARP) and long-tail share, the share of recommended items outside the
  head (top 20% of items by training interactions) (Abdollahpouri, Burke, Mobasher, "Managing Popularity
  Bias in Recommender Systems with Personalized Re-ranking", FLAIRS 2019).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data import Dataset
from alignrec.evaluation.evaluator import ScoreFn, rank_and_evaluate


def coverage_at_k(top: np.ndarray, n_items: int, k: int) -> float:
    """Distinct items in the top ``k`` of all lists divided by the catalogue size."""
    return len(np.unique(top[:, :k])) / max(n_items, 1)


def gini_index(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (ascending-sort formula); 0 for equal counts."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * total))


def recommendation_gini(top: np.ndarray, n_items: int, k: int) -> float:
    """Gini index of the number of times each catalogue item appears in the top ``k`` lists."""
    return gini_index(np.bincount(top[:, :k].ravel(), minlength=n_items))


def average_popularity(top: np.ndarray, popularity: np.ndarray, k: int) -> float:
    """Mean over users of the mean training-interaction count of their top ``k`` items."""
    return float(popularity[top[:, :k]].mean(axis=1).mean()) if len(top) else 0.0


def head_items(popularity: np.ndarray, head_fraction: float = 0.2) -> np.ndarray:
    """Bool ``[n_items]``: the ``ceil(head_fraction * n)`` most popular items (ties by lower index)."""
    n_head = int(np.ceil(head_fraction * len(popularity)))
    order = np.argsort(-popularity, kind="stable")
    head = np.zeros(len(popularity), dtype=bool)
    head[order[:n_head]] = True
    return head


def long_tail_share(top: np.ndarray, popularity: np.ndarray, k: int, head_fraction: float = 0.2) -> float:
    """Share of recommended slots in the top ``k`` filled by items outside the head."""
    return float((~head_items(popularity, head_fraction))[top[:, :k]].mean()) if len(top) else 0.0


def beyond_accuracy(top: np.ndarray, popularity: np.ndarray, ks: list[int]) -> dict[str, float]:
    """Every beyond-accuracy metric at every ``k``: ``{"coverage@20": ..., "gini@20": ..., ...}``."""
    n = len(popularity)
    out: dict[str, float] = {}
    for k in ks:
        out[f"coverage@{k}"] = coverage_at_k(top, n, k)
        out[f"gini@{k}"] = recommendation_gini(top, n, k)
        out[f"avg_popularity@{k}"] = average_popularity(top, popularity, k)
        out[f"long_tail@{k}"] = long_tail_share(top, popularity, k)
    return out


def cold_items(dataset: Dataset) -> np.ndarray:
    """Indices of items with no training interaction (cold-start items)."""
    return np.flatnonzero(dataset.item_popularity() == 0)


def cold_start_metrics(score_fn: ScoreFn, dataset: Dataset, part: str, ks: list[int],
                       batch_size: int = 1024) -> tuple[dict[str, float], int]:
    """Rank only the cold items (no training interactions) for users who have a cold item in ``part``.

    Returns (metrics averaged over those users, number of users); empty metrics when there are no cold
    test interactions. ``ks`` not smaller than the number of cold items (where recall is trivially 1) are
    dropped.
    """
    cold = cold_items(dataset)
    ks = [k for k in ks if k < len(cold)]
    if not len(cold) or not ks:
        return {}, 0
    warm = np.ones(dataset.n_items, dtype=bool)
    warm[cold] = False
    truth = restrict_columns(dataset.matrix(part), ~warm)
    warm_t = torch.from_numpy(warm)

    def score(users: torch.Tensor) -> torch.Tensor:
        s = score_fn(users).float().clone()
        s[:, warm_t.to(s.device)] = -torch.inf
        return s

    with torch.no_grad():
        ranking = rank_and_evaluate(score, truth, dataset.matrix("train"), ks, batch_size)
    return ranking.means, len(ranking.users)


def restrict_columns(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with the entries of columns outside ``keep`` removed (not stored as explicit zeros)."""
    coo = matrix.tocoo()
    sel = keep[coo.col]
    return sp.csr_matrix((coo.data[sel], (coo.row[sel], coo.col[sel])), shape=matrix.shape)
