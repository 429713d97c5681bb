"""The training loop: BPR epochs, validation each epoch, early stopping, checkpoints, one test read."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.config import RunConfig
from alignrec.data import Dataset, load_dataset
from alignrec.evaluation import evaluate_scores
from alignrec.io import write_json
from alignrec.models import Recommender, build_model
from alignrec.progress import progress
from alignrec.training import rundir
from alignrec.training.sampler import BPRSampler


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    torch.set_num_threads(threads or max(1, os.cpu_count() or 1))


def evaluate_model(
    model: Recommender, dataset: Dataset, part: str, ks: list[int], batch_size: int = 2048,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, float], dict[str, np.ndarray], np.ndarray]:
    """Full-ranking metrics of ``model`` on split ``part`` (``"valid"`` or ``"test"``), train items excluded."""
    model.eval()
    with torch.no_grad():
        return evaluate_scores(model.score, dataset.matrix(part), dataset.matrix("train"), ks, batch_size, device)


def train(
    config: RunConfig,
    run_dir: str | Path | None = None,
    dataset: Dataset | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``config.model`` on ``config.data``; early-stop on validation; test the best epoch once.

    With ``run_dir`` every epoch is logged and checkpointed there, and ``resume=True`` continues a run
    that was stopped at any point (same seed and config give the same final metrics).
    """
    cfg = config.train
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if dataset is None:
        dataset = load_dataset(config.data)
    torch.manual_seed(cfg.seed)
    model = build_model(config.model, dataset, config.model_params()).to(device)

    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:
        rundir.prepare(run_path, config, resume=resume, overwrite=overwrite)
        write_json(run_path / rundir.DATASET, {"stats": dataset.stats(), "report": dataset.report})

    if not model.trainable:
        model.fit(dataset)
        if run_path is not None:
            rundir.save_torch(run_path / rundir.BEST, {"epoch": 0, "model": model.state_dict()})
        return _finish(model, dataset, config, run_path, device, best_epoch=0, history=[])

    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: cfg.lr_decay ** (epoch / cfg.lr_decay_every))
    state = {"epoch": -1, "best_score": -np.inf, "best_epoch": -1, "bad_epochs": 0, "history": []}
    if resume and run_path is not None and (run_path / rundir.LAST).is_file():
        saved = rundir.load_torch(run_path / rundir.LAST)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        rundir.write_epochs(run_path, state["history"])
    if state.get("done"):
        return _finish(model, dataset, config, run_path, device, state["best_epoch"], state["history"])

    sampler = BPRSampler(dataset.train, dataset.n_items)
    metric_name = cfg.valid_metric.lower()
    best_state = None
    bar = progress(range(state["epoch"] + 1, cfg.epochs), desc=f"train {config.model}", unit="epochs",
                   enabled=cfg.progress, initial=state["epoch"] + 1, total=cfg.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        losses = _train_epoch(model, optimizer, sampler, np.random.default_rng([cfg.seed, epoch]),
                              cfg.batch_size, device)
        scheduler.step()
        t1 = time.perf_counter()
        valid, _, _ = evaluate_model(model, dataset, "valid", config.topk, cfg.eval_batch_size, device)
        t2 = time.perf_counter()
        score = valid.get(metric_name, 0.0)
        row = {"epoch": epoch, **losses, **{f"valid_{k}": v for k, v in valid.items()},
               "train_seconds": t1 - t0, "eval_seconds": t2 - t1}
        state["history"].append(row)
        state["epoch"] = epoch
        if score > state["best_score"]:
            state.update(best_score=score, best_epoch=epoch, bad_epochs=0)
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if run_path is not None:
                rundir.save_torch(run_path / rundir.BEST, {"epoch": epoch, "model": best_state})
        else:
            state["bad_epochs"] += 1
        stop = state["bad_epochs"] >= cfg.patience and epoch + 1 >= cfg.min_epochs
        state["done"] = stop or epoch == cfg.epochs - 1
        if run_path is not None:
            rundir.save_torch(run_path / rundir.LAST, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "state": state,
            })
            rundir.write_epochs(run_path, state["history"])
        bar.set_postfix(loss=f"{losses['loss']:.4f}", **{metric_name: f"{score:.4f}"},
                        best=f"{state['best_score']:.4f}@{state['best_epoch']}")
        if stop:
            break
    bar.close()

    if best_state is None and run_path is not None and (run_path / rundir.BEST).is_file():
        best_state = rundir.load_torch(run_path / rundir.BEST)["model"]
    if best_state is not None:
        model.load_state_dict(best_state)
    return _finish(model, dataset, config, run_path, device, state["best_epoch"], state["history"])


def _train_epoch(
    model: Recommender, optimizer: torch.optim.Optimizer, sampler: BPRSampler, rng: np.random.Generator,
    batch_size: int, device: torch.device,
) -> dict[str, float]:
    model.train()
    users, pos, neg = (torch.from_numpy(a).to(device) for a in sampler.epoch(rng))
    totals: dict[str, float] = {}
    n_batches = 0
    for start in range(0, len(users), batch_size):
        sl = slice(start, start + batch_size)
        terms = model.loss(users[sl], pos[sl], neg[sl])
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach())
        n_batches += 1
    return {name: value / max(n_batches, 1) for name, value in totals.items()}


def _finish(
    model: Recommender, dataset: Dataset, config: RunConfig, run_path: Path | None, device: torch.device,
    best_epoch: int, history: list[dict[str, Any]],
) -> TrainResult:
    cfg = config.train
    t0 = time.perf_counter()
    valid, _, _ = evaluate_model(model, dataset, "valid", config.topk, cfg.eval_batch_size, device)
    test, _, _ = evaluate_model(model, dataset, "test", config.topk, cfg.eval_batch_size, device)
    eval_seconds = time.perf_counter() - t0
    if run_path is not None:
        train_secs = [row["train_seconds"] for row in history]
        write_json(run_path / rundir.METRICS, {
            "model": config.model, "dataset": dataset.name, "best_epoch": best_epoch,
            "epochs_run": len(history), "valid": valid, "test": test,
            "median_train_seconds_per_epoch": float(np.median(train_secs)) if train_secs else 0.0,
            "final_eval_seconds": eval_seconds,
        })
    return TrainResult(model, dataset, best_epoch, valid, test, history, run_path)
