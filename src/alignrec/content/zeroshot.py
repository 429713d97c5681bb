"""Zero-shot evaluation of an item feature matrix, the first of AlignRec's intermediate metrics.

Liu et al., "AlignRec: Aligning and Training in Multimodal Recommendations", CIKM 2024: a user is the mean of
the L2-normalised features of their training items; all items are ranked by cosine similarity; the user's
training items are excluded. No training, so a feature set can be judged before stage 2.
"""

from __future__ import annotations

import numpy as np
import torch

from alignrec.data.dataset import Dataset
from alignrec.evaluation import evaluate_scores


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def zero_shot(features: np.ndarray, dataset: Dataset, part: str = "test", ks: tuple[int, ...] = (10, 20),
              batch_size: int = 1024) -> dict[str, float]:
    """Recall/NDCG/... @ ``ks`` of cosine ranking by ``features`` on split ``part`` (``"valid"`` or ``"test"``)."""
    items = torch.from_numpy(normalise_rows(np.asarray(features, dtype=np.float32)))
    train = dataset.matrix("train")
    counts = np.asarray(train.sum(axis=1)).ravel()
    profile_matrix = train.multiply(1.0 / np.maximum(counts, 1)[:, None]).tocsr()

    def score(users: torch.Tensor) -> torch.Tensor:
        rows = profile_matrix[users.cpu().numpy()]
        profile = torch.from_numpy(normalise_rows(np.asarray(rows @ items.numpy())))
        return profile @ items.T

    metrics, _, _ = evaluate_scores(score, dataset.matrix(part), train, list(ks), batch_size)
    return metrics
