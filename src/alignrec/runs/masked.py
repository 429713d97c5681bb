"""Mask-modality evaluation of a trained run (AlignRec's third intermediate metric, Liu et al., CIKM 2024):
the run's model rebuilt on features where one modality is hidden for a share of the items."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from alignrec.content.weights import fit_weights
from alignrec.data import Dataset, load_dataset
from alignrec.errors import DataError
from alignrec.evaluation.feature_table import FeatureEvalConfig, masked_dataset, modality_masks
from alignrec.models import Recommender, build_model
from alignrec.runs import rundir
from alignrec.runs.load import LoadedRun, evaluate_run


def load_masked_model(run_dir: str | Path, dataset: Dataset, modality: str | None,
                      mask: np.ndarray | None) -> Recommender:
    """The model of ``run_dir`` rebuilt on ``dataset`` with ``modality`` hidden for the items in ``mask``.

    The model builds its frozen content structures (kNN graph, similarity targets) from the masked features,
    loads its best weights, and is told which entries of its content input changed
    (:meth:`Recommender.hide_item_content`), so its trained copy of the content loses them too.
    """
    config = rundir.read_config(Path(run_dir))
    masked = modality is not None and mask is not None
    target = masked_dataset(dataset, modality, mask) if masked else dataset  # type: ignore[arg-type]
    model = build_model(config.model, target, config.params)
    best = Path(run_dir) / rundir.BEST
    fit_weights(model, rundir.load_best(best)[0], str(best))
    full_input, masked_input = model.content_input(dataset), model.content_input(target)
    if masked and full_input is not None and masked_input is not None:
        model.hide_item_content(full_input != masked_input)
    model.eval()
    return model


def masked_run_row(run_dir: str | Path, dataset: Dataset, cfg: FeatureEvalConfig,
                   modalities: list[str]) -> dict[str, Any]:
    """Table row of a trained run: its metrics with full features and with each modality masked.

    The run is evaluated on its own dataset configuration, whose split must equal ``dataset``'s; the masks use
    the same seed and fraction, so they hide the same items as the training-free rows.
    """
    config = rundir.read_config(Path(run_dir))
    run_ds = load_dataset(config.data)
    if run_ds.n_items != dataset.n_items or not np.array_equal(run_ds.test, dataset.test):
        raise DataError(f"{run_dir}: the run's dataset split differs from {dataset.name!r}'s; evaluate it on its own")
    run_masks = modality_masks(run_ds, cfg)

    def metrics(modality: str | None) -> dict[str, float]:
        model = load_masked_model(run_dir, run_ds, modality, run_masks.get(modality) if modality else None)
        loaded = LoadedRun(config, run_ds, model, 0)
        return evaluate_run(loaded, cfg.part, cfg.ks, cfg.batch_size).means

    masked = {mod: metrics(mod) if mod in run_masks else None for mod in modalities}
    return {"input": f"run {Path(run_dir).name}", "method": f"trained {config.model}", "full": metrics(None),
            "masked": masked}
