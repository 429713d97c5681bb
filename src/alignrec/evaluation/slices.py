"""Ranking metrics sliced by user activity and by the popularity of the test items.

* User activity: number of training interactions, buckets ``1-3``, ``4-9``, ``10+``.
* Item popularity: each test item falls in ``head`` (top 20% of items by training interactions), ``mid``
  (next 30%), ``tail`` (the rest with at least one training interaction) or ``cold`` (none). A user's
  metrics for a bucket use the same ranked list, with only that bucket's test items as relevant, over the
  users who have a test item in the bucket.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from alignrec.evaluation.beyond import restrict_columns
from alignrec.evaluation.evaluator import hit_matrix
from alignrec.evaluation.metrics import per_user_metrics

ACTIVITY_BUCKETS: tuple[tuple[str, int, float], ...] = (("1-3", 1, 3), ("4-9", 4, 9), ("10+", 10, np.inf))
POPULARITY_BUCKETS = ("head", "mid", "tail", "cold")


def activity_labels(train_counts: np.ndarray) -> np.ndarray:
    """Bucket name of each user's number of training interactions (``""`` for 0)."""
    labels = np.full(len(train_counts), "", dtype=object)
    for name, low, high in ACTIVITY_BUCKETS:
        labels[(train_counts >= low) & (train_counts <= high)] = name
    return labels


def popularity_labels(popularity: np.ndarray, head: float = 0.2, mid: float = 0.5) -> np.ndarray:
    """Bucket name per item: popularity rank in the top ``head`` share, up to ``mid``, the rest, or cold."""
    n = len(popularity)
    order = np.argsort(-popularity, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    labels = np.where(rank < np.ceil(head * n), "head", np.where(rank < np.ceil(mid * n), "mid", "tail"))
    labels = labels.astype(object)
    labels[popularity == 0] = "cold"
    return labels


def group_means(per_user: dict[str, np.ndarray], groups: np.ndarray, order: list[str]) -> dict[str, dict[str, float]]:
    """``{group: {"users": n, metric: mean over the group's users}}`` for the groups in ``order`` that occur."""
    out: dict[str, dict[str, float]] = {}
    for name in order:
        sel = groups == name
        if sel.any():
            out[name] = {"users": float(sel.sum()), **{m: float(v[sel].mean()) for m, v in per_user.items()}}
    return out


def activity_slices(per_user: dict[str, np.ndarray], users: np.ndarray,
                    train_counts: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-user metrics of the evaluated ``users`` averaged within each activity bucket."""
    return group_means(per_user, activity_labels(train_counts)[users], [b[0] for b in ACTIVITY_BUCKETS])


def popularity_slices(top: np.ndarray, users: np.ndarray, truth: sp.csr_matrix, item_labels: np.ndarray,
                      ks: list[int]) -> dict[str, dict[str, float]]:
    """Metrics per popularity bucket of the test items, from the users' ranked lists ``top`` (rows = ``users``)."""
    out: dict[str, dict[str, float]] = {}
    for name in POPULARITY_BUCKETS:
        sub = restrict_columns(truth, item_labels == name)
        n_rel = np.diff(sub.indptr)[users]
        sel = n_rel > 0
        if not sel.any():
            continue
        metrics = per_user_metrics(hit_matrix(top[sel], users[sel], sub), n_rel[sel], ks)
        out[name] = {"users": float(sel.sum()), **{m: float(v.mean()) for m, v in metrics.items()}}
    return out
