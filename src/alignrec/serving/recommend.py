"""Load a trained run directory and recommend top-k items for users (training items excluded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.config import RunConfig
from alignrec.data import Dataset, load_dataset
from alignrec.errors import RunDirError
from alignrec.evaluation import top_k_items
from alignrec.models import Recommender, build_model
from alignrec.training import rundir


@dataclass
class LoadedRun:
    config: RunConfig
    dataset: Dataset
    model: Recommender
    best_epoch: int


def load_run(run_dir: str | Path, dataset: Dataset | None = None) -> LoadedRun:
    """Rebuild the model of ``run_dir`` with its best-validation weights."""
    run_dir = Path(run_dir)
    config = rundir.read_config(run_dir)
    best = run_dir / rundir.BEST
    if not best.is_file():
        raise RunDirError(f"{run_dir}: no {rundir.BEST} yet; the run has not finished an epoch")
    if dataset is None:
        dataset = load_dataset(config.data)
    model = build_model(config.model, dataset, config.model_params())
    saved = rundir.load_torch(best)
    model.load_state_dict(saved["model"])
    model.eval()
    return LoadedRun(config, dataset, model, int(saved.get("epoch", 0)))


def recommend(run: LoadedRun, users: list[str], k: int = 10) -> list[dict[str, Any]]:
    """Top ``k`` items for each raw user ID: ``[{"user", "rank", "item", "score", "text"}, ...]``."""
    dataset, model = run.dataset, run.model
    index = np.array([dataset.user_index(u) for u in users], dtype=np.int64)
    with torch.no_grad():
        all_scores = model.score(torch.from_numpy(index)).float()
    # Score each user once: rank by row position into the precomputed scores (indexing copies them,
    # so top_k_items' masking of training items does not touch all_scores).
    positions = np.arange(len(index))
    top = top_k_items(lambda pos: all_scores[pos], positions, dataset.matrix("train")[index], k)
    scores = all_scores.gather(1, torch.from_numpy(top)).numpy()
    rows = []
    for u, items, item_scores in zip(users, top, scores):
        for rank, (item, score) in enumerate(zip(items, item_scores), start=1):
            text = dataset.item_text[item] if dataset.item_text is not None else ""
            rows.append({"user": str(u), "rank": rank, "item": str(dataset.item_ids[item]),
                         "score": float(score), "text": text})
    return rows
