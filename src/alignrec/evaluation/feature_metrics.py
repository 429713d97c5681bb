"""Training-free judgements of an item feature matrix (the intermediate metrics of AlignRec).

Liu et al., "AlignRec: Aligning and Training in Multimodal Recommendations", CIKM 2024 (arXiv 2403.12384),
propose judging a feature set before the slow stage-2 training with three classes of metrics:

* *zero-shot*: a user is the mean of the L2-normalised features of their training items and items are
  ranked by cosine similarity to it;
* *item-CF*: item-item kNN over feature cosine similarity; a user's score for item ``j`` is the sum of the
  similarities between ``j`` and the user's training items. The similarity uses the shrink term of the
  content-based ItemKNN of Dacrema, Cremonesi, Jannach, "Are We Really Making Much Progress?", RecSys 2019:
  ``s_ij = x_i·x_j / (‖x_i‖ ‖x_j‖ + shrink)``;
* *mask-modality*: hide one modality for a fraction of the items and measure the drop.

Everything here is a pure function of arrays; scoring is vectorised and done in user batches by the
evaluator, so memory stays ``batch x n_items``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data.dataset import Dataset, l2_normalise
from alignrec.evaluation.evaluator import ScoreFn, evaluate_split


def user_profiles(features: np.ndarray, train: sp.csr_matrix) -> np.ndarray:
    """Zero-shot user vectors: mean of the L2-normalised features of each user's training items, ``[n_users, d]``."""
    x = l2_normalise(features)
    counts = np.asarray(train.sum(axis=1)).ravel()
    profiles = np.asarray(train @ x) / np.maximum(counts, 1)[:, None]
    return profiles.astype(np.float32)


def zero_shot_score_fn(features: np.ndarray, train: sp.csr_matrix) -> ScoreFn:
    """Score function ``users -> [len(users), n_items]`` cosine similarities between profile and item."""
    items = torch.from_numpy(l2_normalise(features))
    users_n = torch.from_numpy(l2_normalise(user_profiles(features, train)))

    def score(users: torch.Tensor) -> torch.Tensor:
        return users_n[users.cpu()] @ items.T

    return score


def zero_shot(features: np.ndarray, dataset: Dataset, part: str = "test", ks: tuple[int, ...] = (10, 20),
              batch_size: int = 1024) -> dict[str, float]:
    """Recall/NDCG/... @ ``ks`` of zero-shot cosine ranking by ``features`` on split ``part``."""
    score = zero_shot_score_fn(features, dataset.matrix("train"))
    return evaluate_split(score, dataset, part, list(ks), batch_size).means


def shrunk_cosine(features: np.ndarray, rows: np.ndarray, shrink: float) -> np.ndarray:
    """``s_ij = x_i·x_j / (‖x_i‖ ‖x_j‖ + shrink)`` for the items ``rows`` against all items, ``[len(rows), n]``."""
    x = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1)
    dots = x[rows] @ x.T
    denom = norms[rows][:, None] * norms[None, :] + shrink
    return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)


def item_knn_similarity(features: np.ndarray, k: int = 50, shrink: float = 10.0, chunk: int = 2048) -> sp.csr_matrix:
    """Sparse item-item matrix: row ``i`` keeps its ``k`` most similar other items (shrunk cosine).

    The item itself is never its own neighbour; only positive similarities are kept.
    """
    n = features.shape[0]
    k = max(0, min(k, n - 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, chunk):
        idx = np.arange(start, min(start + chunk, n))
        sims = shrunk_cosine(features, idx, shrink)
        sims[np.arange(len(idx)), idx] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k > 0 else np.empty((len(idx), 0), dtype=np.int64)
        top_vals = np.take_along_axis(sims, top, axis=1)
        keep = top_vals > 0
        rows.append(np.repeat(idx, k)[keep.ravel()])
        cols.append(top[keep])
        vals.append(top_vals[keep])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n), dtype=np.float32)


def item_cf_score_fn(similarity: sp.csr_matrix, train: sp.csr_matrix) -> ScoreFn:
    """Score function: ``score(u, j) = sum over the user's training items i of similarity[i, j]``."""
    sim = sp.csr_matrix(similarity, dtype=np.float32)

    def score(users: torch.Tensor) -> torch.Tensor:
        rows = train[users.cpu().numpy()] @ sim
        return torch.from_numpy(np.asarray(rows.toarray(), dtype=np.float32))

    return score


def choose_masked_items(present: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Bool ``[n_items]``: a seeded ``fraction`` of the items whose modality is ``present`` (rounded)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"mask fraction must be in [0, 1], got {fraction}")
    candidates = np.flatnonzero(present)
    chosen = np.random.default_rng(seed).permutation(candidates)[: int(round(fraction * len(candidates)))]
    mask = np.zeros(len(present), dtype=bool)
    mask[chosen] = True
    return mask


def mask_rows(features: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of ``features`` with the rows in ``mask`` set to zero (the modality counts as missing)."""
    out = np.array(features, dtype=np.float32, copy=True)
    out[mask] = 0.0
    return out


def relative_change(new: float, old: float) -> float:
    """``(new - old) / old``; NaN when ``old`` is 0."""
    return (new - old) / old if old else float("nan")
