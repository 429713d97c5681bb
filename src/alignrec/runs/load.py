"""Load a finished run directory and evaluate it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alignrec.content.weights import fit_weights
from alignrec.data import Dataset, load_dataset
from alignrec.errors import RunDirError
from alignrec.evaluation import Ranking
from alignrec.models import Recommender, build_model
from alignrec.runs import rundir
from alignrec.runs.config import RunConfig


@dataclass
class LoadedRun:
    config: RunConfig
    dataset: Dataset
    model: Recommender
    best_epoch: int


def load_run(run_dir: str | Path, dataset: Dataset | None = None) -> LoadedRun:
    """Rebuild the model of ``run_dir`` with its best-validation weights, in eval mode."""
    run_dir = Path(run_dir)
    config = rundir.read_config(run_dir)
    best = run_dir / rundir.BEST
    if not best.is_file():
        raise RunDirError(f"{run_dir}: no {rundir.BEST} yet; the run has not finished an epoch")
    weights, epoch = rundir.load_best(best)  # checked before the dataset is loaded and the model built
    if dataset is None:
        dataset = load_dataset(config.data)
    model = build_model(config.model, dataset, config.params)
    fit_weights(model, weights, f"{best} (for the {config.model} model that {run_dir / rundir.CONFIG} describes)")
    model.eval()
    return LoadedRun(config, dataset, model, epoch)


def evaluate_run(run: LoadedRun, part: str = "test", ks: list[int] | None = None, batch_size: int = 1024) -> Ranking:
    """Full-ranking evaluation of a loaded run on ``part`` at ``ks`` (default: the run's own cut-offs)."""
    run.model.eval()
    return run.model.rank_split(run.dataset, part, ks or run.config.topk, batch_size)
