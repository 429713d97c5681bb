"""Train a run: config in, trained model and metrics out, optionally kept in a run directory.

The test split is evaluated once, after training, at the best-validation weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.config import RuntimeOptions
from alignrec.data import Dataset, load_dataset
from alignrec.io import write_json
from alignrec.models import Recommender, build_model
from alignrec.runs import rundir
from alignrec.runs.config import RunConfig
from alignrec.runs.export import export_after_training
from alignrec.runs.load import LoadedRun
from alignrec.training import Checkpoints, LoopState, distributed, fit, resolve_device


@dataclass
class TrainResult:
    """What :func:`train` returns: the best-validation model and its metrics."""

    model: Recommender
    dataset: Dataset
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    run_dir: Path | None = None


def train(config: RunConfig, run_dir: str | Path | None = None, dataset: Dataset | None = None,
          resume: bool = False, overwrite: bool = False, runtime: RuntimeOptions | None = None,
          evaluate_test: bool = True, on_epoch: Callable[[LoopState], None] | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.data``; early-stop on validation; test the best epoch once.

    With ``run_dir`` every epoch is logged and checkpointed there, ``resume=True`` continues a run that was
    stopped at any point (same config and seed give the same final metrics), and the finished run is exported for
    serving (``run_dir/export``, see :mod:`alignrec.runs.export`). ``runtime`` (progress output, threads, device)
    may differ between the first run and a resume. ``evaluate_test=False`` never reads the test split (``test`` is
    then empty): for model selection. ``on_epoch`` is passed to :func:`fit`.
    """
    runtime = runtime or RuntimeOptions()
    if dataset is None:
        dataset = load_dataset(config.data)
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, dataset, config.params)
    run_path = Path(run_dir) if run_dir is not None else None
    joined_here = distributed.current() is None
    group = distributed.init_from_env(resolve_device(runtime.device))
    checkpoints: Checkpoints | None = None
    if group is not None and not group.is_main:  # under torchrun only process 0 writes; the others may resume
        checkpoints = rundir.ReadOnlyCheckpoints(run_path, resume) if run_path is not None else None
        run_path = None
    elif run_path is not None:
        rundir.prepare(run_path, config, resume=resume, overwrite=overwrite)
        write_json(run_path / rundir.DATASET, {"stats": dataset.stats(), "report": dataset.report})
        checkpoints = rundir.RunDirCheckpoints(run_path, resume)
    result = fit(model, dataset, config.train, config.topk, runtime, checkpoints, on_epoch)
    if group is not None and joined_here:  # training was the group's work; evaluation is process 0's alone
        distributed.leave()
    if run_path is not None and not model.trainable:
        rundir.save_torch(run_path / rundir.BEST, {"epoch": 0, "model": model.state_dict()})
    if group is not None and not group.is_main:
        return TrainResult(model, dataset, result.best_epoch, {}, {}, result.history, None)
    device = resolve_device(runtime.device)
    t0 = time.perf_counter()
    batch = config.train.eval_batch_size
    valid = model.rank_split(dataset, "valid", config.topk, batch, device).means
    test = model.rank_split(dataset, "test", config.topk, batch, device).means if evaluate_test else {}
    eval_seconds = time.perf_counter() - t0
    if run_path is not None:
        train_secs = [row["train_seconds"] for row in result.history]
        write_json(run_path / rundir.METRICS, {
            "model": config.model, "dataset": dataset.name, **model.protocol(), "best_epoch": result.best_epoch,
            "epochs_run": len(result.history), "valid": valid, "test": test,
            "median_train_seconds_per_epoch": float(np.median(train_secs)) if train_secs else 0.0,
            "final_eval_seconds": eval_seconds,
        })
        export_after_training(LoadedRun(config, dataset, model, result.best_epoch), run_path)
    return TrainResult(model, dataset, result.best_epoch, valid, test, result.history, run_path)
