"""Everything the report and ``compare`` need from one run directory, computed from its best checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.data import Dataset
from alignrec.evaluation.beyond import beyond_accuracy, cold_items, cold_start_metrics
from alignrec.evaluation.slices import activity_slices, popularity_labels, popularity_slices
from alignrec.runs import rundir
from alignrec.runs.load import evaluate_run, load_run


@dataclass
class RunAnalysis:
    """Test-split results of one run: per-user metrics, beyond-accuracy, slices, cold start, embeddings."""

    name: str
    run_dir: Path
    config: dict[str, Any]
    dataset_card: dict[str, Any]
    history: list[dict[str, Any]]
    saved_metrics: dict[str, Any]
    best_epoch: int
    ks: list[int]
    means: dict[str, float]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    beyond: dict[str, float]
    activity: dict[str, dict[str, float]]
    popularity: dict[str, dict[str, float]]
    cold_start: dict[str, float] = field(default_factory=dict)
    cold_users: int = 0
    cold_candidates: int = 0
    item_embeddings: np.ndarray | None = None
    item_popularity: np.ndarray | None = None


def read_run_logs(run_dir: Path) -> tuple[dict[str, Any] | None, dict[str, Any], list[dict[str, Any]]]:
    """What the report shows from ``run_dir``'s own files: the dataset card (None without one), the saved
    metrics (empty without ``metrics.json``) and the epoch history, each checked (an error names the file)."""
    saved = rundir.read_metrics(run_dir) if (run_dir / rundir.METRICS).is_file() else {}
    return rundir.read_card(run_dir), saved, rundir.read_history(run_dir)


def analyse_run(run_dir: str | Path, part: str = "test", dataset: Dataset | None = None) -> RunAnalysis:
    """Load ``run_dir`` and compute every evaluation of the report on ``part``."""
    run_dir = Path(run_dir)
    card, saved, history = read_run_logs(run_dir)  # before the evaluation, so a broken file fails at once
    loaded = load_run(run_dir, dataset)
    ds, model, ks = loaded.dataset, loaded.model, loaded.config.topk
    ranking = evaluate_run(loaded, part)
    users, top, per_user = ranking.users, ranking.top, ranking.per_user
    popularity = ds.item_popularity()
    train_counts = np.bincount(ds.train[:, 0], minlength=ds.n_users)
    cold, cold_users = ({}, 0)
    if model.scores_unseen_items:
        cold, cold_users = cold_start_metrics(model.score, ds, part, ks)
    with torch.no_grad():
        embeddings = model.embeddings()
    item_emb = embeddings[1].detach().cpu().numpy() if embeddings is not None else None
    return RunAnalysis(
        name=run_dir.name, run_dir=run_dir, config=loaded.config.to_dict(),
        dataset_card=card if card is not None else {"stats": ds.stats(), "report": ds.report},
        history=history, saved_metrics=saved, best_epoch=loaded.best_epoch, ks=ks,
        means=ranking.means, per_user=per_user, users=users,
        beyond=beyond_accuracy(top, popularity, ks),
        activity=activity_slices(per_user, users, train_counts),
        popularity=popularity_slices(top, users, ds.matrix(part), popularity_labels(popularity), ks),
        cold_start=cold, cold_users=cold_users, cold_candidates=len(cold_items(ds)),
        item_embeddings=item_emb, item_popularity=popularity,
    )
