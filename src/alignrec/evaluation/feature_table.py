"""The intermediate-metrics table of one dataset's feature matrices: zero-shot, item-CF and mask-modality.

AlignRec (Liu et al., CIKM 2024, arXiv 2403.12384) judges a feature set before the slow stage-2 training. The
math is in :mod:`alignrec.evaluation.feature_metrics`; this module applies it to every modality of a
:class:`Dataset`, their concatenation, extra learned matrices, and masked copies of the modalities. Rows for
trained runs under the same masks are added by :mod:`alignrec.runs.masked`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alignrec.data import Dataset, concat_normalised, is_stage1_feature
from alignrec.evaluation.evaluator import evaluate_split
from alignrec.evaluation.feature_metrics import (
    choose_masked_items,
    item_cf_score_fn,
    item_knn_similarity,
    mask_rows,
    zero_shot_score_fn,
)


@dataclass
class FeatureEvalConfig:
    ks: list[int] = field(default_factory=lambda: [10, 20])
    knn_k: int = 50
    shrink: float = 10.0
    mask_fraction: float = 0.5
    seed: int = 2024
    part: str = "test"
    batch_size: int = 1024


def derived_features(modalities: dict[str, np.ndarray], extra: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every matrix to judge: each modality, their normalised concatenation (2+ modalities), then ``extra``."""
    out = dict(modalities)
    raw = [k for k in sorted(modalities) if not is_stage1_feature(k)]
    if len(raw) >= 2:
        out["concat(" + "+".join(raw) + ")"] = concat_normalised([modalities[k] for k in raw])
    out.update(extra)
    return out


def feature_metrics(matrix: np.ndarray, dataset: Dataset, cfg: FeatureEvalConfig) -> dict[str, dict[str, float]]:
    """``{"zero-shot": {metric: mean}, "item-CF": {...}}`` of one ``[n_items, d]`` matrix on ``cfg.part``."""
    train = dataset.matrix("train")
    sim = item_knn_similarity(matrix, cfg.knn_k, cfg.shrink)
    fns = {"zero-shot": zero_shot_score_fn(matrix, train), "item-CF": item_cf_score_fn(sim, train)}
    return {name: evaluate_split(fn, dataset, cfg.part, cfg.ks, cfg.batch_size).means for name, fn in fns.items()}


def modality_masks(dataset: Dataset, cfg: FeatureEvalConfig) -> dict[str, np.ndarray]:
    """One seeded item mask per modality: ``mask_fraction`` of the items that have it."""
    return {name: choose_masked_items(np.abs(m).sum(axis=1) > 0, cfg.mask_fraction, cfg.seed)
            for name, m in sorted(dataset.features.items())}


def masked_dataset(dataset: Dataset, modality: str, mask: np.ndarray) -> Dataset:
    """A shallow copy of ``dataset`` whose ``modality`` rows in ``mask`` are zero."""
    features = {**dataset.features, modality: mask_rows(dataset.features[modality], mask)}
    return dataclasses.replace(dataset, features=features)


def evaluate_features(dataset: Dataset, cfg: FeatureEvalConfig,
                      extra: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The table: rows ``{"input", "method", "full": metrics, "masked": {modality: metrics | None}}``.

    Matrices given in ``extra`` cannot be re-derived from masked modalities, so their masked cells are None.
    """
    extra = extra or {}
    masks = modality_masks(dataset, cfg)
    results = {name: feature_metrics(m, dataset, cfg) for name, m in derived_features(dataset.features, extra).items()}
    masked_results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for modality, mask in masks.items():
        inputs = derived_features(masked_dataset(dataset, modality, mask).features, {})
        masked_results[modality] = {name: feature_metrics(m, dataset, cfg) for name, m in inputs.items()}
    rows = [{"input": name, "method": method, "full": metrics,
             "masked": {mod: masked_results[mod].get(name, {}).get(method) for mod in masks}}
            for name, by_method in results.items() for method, metrics in by_method.items()]
    return {"dataset": dataset.name, "part": cfg.part, "ks": cfg.ks, "knn_k": cfg.knn_k, "shrink": cfg.shrink,
            "mask_fraction": cfg.mask_fraction, "seed": cfg.seed,
            "masked_items": {mod: int(mask.sum()) for mod, mask in masks.items()}, "rows": rows}
