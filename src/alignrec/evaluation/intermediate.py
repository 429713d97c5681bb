"""The intermediate-metrics table of one dataset: zero-shot, item-CF and mask-modality.

Pure math lives in :mod:`alignrec.evaluation.feature_metrics`; this module wires it to a :class:`Dataset`,
to extra feature files and to a trained run (AlignRec, Liu et al., CIKM 2024, Section on intermediate
evaluation).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.data import Dataset, concat_normalised, load_dataset
from alignrec.errors import DataError
from alignrec.evaluation.evaluator import evaluate_scores
from alignrec.evaluation.feature_metrics import (
    choose_masked_items,
    item_cf_score_fn,
    item_knn_similarity,
    mask_rows,
    zero_shot_score_fn,
)
from alignrec.models import build_model
from alignrec.training import rundir


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
    raw = [k for k in sorted(modalities) if k != "unified"]
    if len(raw) >= 2:
        out["concat(" + "+".join(raw) + ")"] = concat_normalised([modalities[k] for k in raw])
    out.update(extra)
    return out


def feature_metrics(matrix: np.ndarray, dataset: Dataset, cfg: FeatureEvalConfig) -> dict[str, dict[str, float]]:
    """``{"zero-shot": {metric: mean}, "item-CF": {...}}`` of one ``[n_items, d]`` matrix on ``cfg.part``."""
    train, truth = dataset.matrix("train"), dataset.matrix(cfg.part)
    sim = item_knn_similarity(matrix, cfg.knn_k, cfg.shrink)
    fns = {"zero-shot": zero_shot_score_fn(matrix, train), "item-CF": item_cf_score_fn(sim, train)}
    return {name: evaluate_scores(fn, truth, train, cfg.ks, cfg.batch_size)[0] for name, fn in fns.items()}


def modality_masks(dataset: Dataset, cfg: FeatureEvalConfig) -> dict[str, np.ndarray]:
    """One seeded item mask per modality: ``mask_fraction`` of the items that have it."""
    return {name: choose_masked_items(np.abs(m).sum(axis=1) > 0, cfg.mask_fraction, cfg.seed)
            for name, m in sorted(dataset.features.items())}


def masked_dataset(dataset: Dataset, modality: str, mask: np.ndarray) -> Dataset:
    """A shallow copy of ``dataset`` whose ``modality`` rows in ``mask`` are zero."""
    features = {**dataset.features, modality: mask_rows(dataset.features[modality], mask)}
    return dataclasses.replace(dataset, features=features)


def load_masked_model(run_dir: str | Path, dataset: Dataset, modality: str | None,
                      mask: np.ndarray | None) -> torch.nn.Module:
    """The model of ``run_dir`` rebuilt on a masked copy of ``dataset`` with its best weights.

    The model builds its frozen content structures (kNN graph, similarity targets) from the masked
    features; its trainable feature copy (parameter ``feature``) loaded from ``best.pt`` is zeroed wherever
    the masked input differs from the full one.
    """
    config = rundir.read_config(Path(run_dir))
    params = config.model_params()
    target = masked_dataset(dataset, modality, mask) if modality is not None and mask is not None else dataset
    model = build_model(config.model, target, params)
    model.load_state_dict(rundir.load_torch(Path(run_dir) / rundir.BEST)["model"])
    feature = getattr(model, "feature", None)
    if target is not dataset and isinstance(feature, torch.Tensor):
        name = getattr(params, "feature", None)
        changed = dataset.unified_feature(name) != target.unified_feature(name)
        if changed.shape == tuple(feature.shape):
            with torch.no_grad():
                feature[torch.from_numpy(changed)] = 0.0
    model.eval()
    return model


def model_metrics(model: torch.nn.Module, dataset: Dataset, cfg: FeatureEvalConfig) -> dict[str, float]:
    with torch.no_grad():
        return evaluate_scores(model.score, dataset.matrix(cfg.part), dataset.matrix("train"), cfg.ks,
                               cfg.batch_size)[0]


def run_row(run_dir: str | Path, dataset: Dataset, cfg: FeatureEvalConfig, modalities: list[str]) -> dict[str, Any]:
    """Table row of a trained run: its metrics with full features and with each modality masked.

    The run is evaluated on its own dataset configuration; its masks use the same seed and fraction, so they
    hide the same items as the training-free rows whenever the modality matrices are the same.
    """
    config = rundir.read_config(Path(run_dir))
    run_ds = load_dataset(config.data)
    if run_ds.n_items != dataset.n_items or not np.array_equal(run_ds.test, dataset.test):
        raise DataError(f"{run_dir}: the run's dataset split differs from {dataset.name!r}'s; evaluate it on its own")
    run_masks = modality_masks(run_ds, cfg)
    full = model_metrics(load_masked_model(run_dir, run_ds, None, None), run_ds, cfg)
    masked = {mod: model_metrics(load_masked_model(run_dir, run_ds, mod, run_masks[mod]), run_ds, cfg)
              if mod in run_masks else None for mod in modalities}
    return {"input": f"run {Path(run_dir).name}", "method": f"trained {config.model}", "full": full,
            "masked": masked}


def evaluate_features(
    dataset: Dataset, cfg: FeatureEvalConfig, extra: dict[str, np.ndarray] | None = None,
    run_dirs: list[str | Path] | None = None,
) -> dict[str, Any]:
    """The whole table: rows ``{"input", "method", "full": metrics, "masked": {modality: metrics | None}}``.

    Matrices given in ``extra`` cannot be re-derived from masked modalities, so their masked cells are None.
    """
    extra = extra or {}
    masks = modality_masks(dataset, cfg)
    full_inputs = derived_features(dataset.features, extra)
    rows: list[dict[str, Any]] = []
    results = {name: feature_metrics(m, dataset, cfg) for name, m in full_inputs.items()}
    masked_results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for modality, mask in masks.items():
        inputs = derived_features(masked_dataset(dataset, modality, mask).features, {})
        masked_results[modality] = {name: feature_metrics(m, dataset, cfg) for name, m in inputs.items()}
    for name, by_method in results.items():
        for method, metrics in by_method.items():
            rows.append({"input": name, "method": method, "full": metrics,
                         "masked": {mod: masked_results[mod].get(name, {}).get(method) for mod in masks}})
    for run_dir in run_dirs or []:
        rows.append(run_row(run_dir, dataset, cfg, list(masks)))
    return {"dataset": dataset.name, "part": cfg.part, "ks": cfg.ks, "knn_k": cfg.knn_k, "shrink": cfg.shrink,
            "mask_fraction": cfg.mask_fraction, "seed": cfg.seed,
            "masked_items": {mod: int(mask.sum()) for mod, mask in masks.items()}, "rows": rows}
