"""Zero-shot metrics of a feature matrix on one split, for model selection in stage 1.

A thin convenience over :mod:`alignrec.evaluation.feature_metrics` (AlignRec's intermediate metrics,
Liu et al., CIKM 2024), returning averaged metrics for ``"valid"`` or ``"test"``.
"""

from __future__ import annotations

import numpy as np

from alignrec.data.dataset import Dataset
from alignrec.data.dataset import l2_normalise as normalise_rows
from alignrec.evaluation import evaluate_scores
from alignrec.evaluation.feature_metrics import zero_shot_score_fn

__all__ = ["normalise_rows", "zero_shot"]


def zero_shot(features: np.ndarray, dataset: Dataset, part: str = "test", ks: tuple[int, ...] = (10, 20),
              batch_size: int = 1024) -> dict[str, float]:
    """Recall/NDCG/... @ ``ks`` of cosine ranking by ``features`` on split ``part`` (``"valid"`` or ``"test"``)."""
    train = dataset.matrix("train")
    metrics, _, _ = evaluate_scores(zero_shot_score_fn(features, train), dataset.matrix(part), train, list(ks),
                                    batch_size)
    return metrics
