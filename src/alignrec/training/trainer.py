"""Stage-2 training of one model: BPR epochs, validation each epoch, early stopping, checkpoints.

:func:`fit` is the mechanics only. Where checkpoints go is the caller's choice through :class:`Checkpoints`
(the run layer writes them into a run directory); the test split is never read here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
import torch

from alignrec.config import RuntimeOptions, TrainConfig
from alignrec.data import Dataset
from alignrec.models import Recommender
from alignrec.training import distributed
from alignrec.training.loop import LoopState, StopRule, optimise_batches, run_epochs
from alignrec.training.sampler import BPRSampler


class Checkpoints(Protocol):
    """Where :func:`fit` keeps what a resumed or finished run needs."""

    def load_last(self) -> dict[str, Any] | None:
        """The last saved training state, or None to start from scratch."""

    def save_last(self, state: dict[str, Any]) -> None:
        """The full state after an epoch (model, optimiser, scheduler, loop state)."""

    def save_best(self, epoch: int, weights: dict[str, torch.Tensor]) -> None:
        """The weights of a new best-validation epoch."""

    def load_best(self) -> dict[str, torch.Tensor] | None:
        """The saved best weights (when the best epoch was before a resume)."""


@dataclass
class FitResult:
    """The loop's final state; the model passed to :func:`fit` now holds the best-validation weights."""

    state: LoopState

    @property
    def best_epoch(self) -> int:
        return self.state.best_epoch

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.state.history


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def configure_cpu(threads: int | None) -> None:
    """Use ``threads`` (by default the machine's cores shared among the processes torchrun started on it) and
    flush subnormal floats to zero: as weights and attention values decay towards 1e-38, arithmetic on subnormals
    made a late REARM training step on MovieLens 3.3x slower (2.4 s against 0.71 s with flushing)."""
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local_processes))
    torch.set_flush_denormal(True)


def adam(model: Recommender, lr: float) -> torch.optim.Adam:
    """Adam over the model's parameter groups, as one fused update per step on the CPU and CUDA: the same rule,
    one pass over each tensor instead of a dozen (a third of the time of AlignRec's update of its trainable
    feature copy)."""
    first = next(model.parameters(), None)
    fused = first is not None and first.device.type in ("cpu", "cuda")
    return torch.optim.Adam(model.parameter_groups(), lr=lr, fused=fused)


def fit(model: Recommender, dataset: Dataset, cfg: TrainConfig, ks: list[int], runtime: RuntimeOptions | None = None,
        checkpoints: Checkpoints | None = None, on_epoch: Callable[[LoopState], None] | None = None) -> FitResult:
    """Train ``model`` on ``runtime.device`` with BPR triples from ``dataset.train``; early-stop on
    ``cfg.valid_metric`` of the validation split; leave the best-validation weights in ``model``.

    With ``checkpoints`` holding a saved state, training continues from it (same config and seed give the
    same result as an uninterrupted run). ``on_epoch(state)`` is called after each epoch (e.g. to report to a
    hyper-parameter search, which may stop the run by raising).
    """
    runtime = runtime or RuntimeOptions()
    configure_cpu(runtime.threads)
    device = resolve_device(runtime.device)
    model.to(device)
    if not model.trainable:
        model.fit(dataset)
        return FitResult(LoopState(epoch=0, best_epoch=0, done=True))

    group = distributed.current()  # joined by the caller (runs.train) when launched by torchrun
    if group is not None:
        distributed.broadcast_parameters(model)
    optimizer = adam(model, cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: cfg.lr_decay ** (epoch / cfg.lr_decay_every))
    state = LoopState()
    saved = checkpoints.load_last() if checkpoints is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = LoopState.from_dict(saved["state"])

    sampler = BPRSampler(dataset.train, dataset.n_items)
    metric = cfg.valid_metric.lower()
    best: dict[str, torch.Tensor] | None = None

    def train_epoch(epoch: int) -> dict[str, float]:
        rng = np.random.default_rng([cfg.seed, epoch])
        model.train()
        model.on_epoch_start(epoch, rng)
        batches = model.training_batches(rng, cfg.batch_size)
        if batches is None:
            users, pos, neg = (torch.from_numpy(a).to(device) for a in sampler.epoch(rng))
            batches = [(users[s:s + cfg.batch_size], pos[s:s + cfg.batch_size], neg[s:s + cfg.batch_size])
                       for s in range(0, len(users), cfg.batch_size)]
        sync: Callable[[], None] | None = None
        if group is not None:
            batches = distributed.shard(list(batches), group)
            sync = partial(distributed.average_gradients, list(model.parameters()), group)
        losses = optimise_batches(batches, lambda batch: model.loss(*batch), optimizer, epoch,
                                  lambda batch: len(batch[0]), sync)
        scheduler.step()
        return losses

    def select(epoch: int, row: dict[str, Any]) -> float:
        model.eval()
        score = 0.0
        if group is None or group.is_main:
            valid = model.rank_split(dataset, "valid", ks, cfg.eval_batch_size, device).means
            row.update({f"valid_{k}": v for k, v in valid.items()})
            score = valid.get(metric, 0.0)
        return score if group is None else distributed.broadcast_score(score, device)

    def on_epoch_end(loop: LoopState, improved: bool) -> None:
        nonlocal best
        if improved:
            best = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if checkpoints is not None:
                checkpoints.save_best(loop.epoch, best)
        if checkpoints is not None:
            checkpoints.save_last({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "state": loop.to_dict()})
        if on_epoch is not None:
            on_epoch(loop)

    rule = StopRule(cfg.epochs, cfg.patience, cfg.min_epochs)
    show = runtime.progress and (group is None or group.is_main)
    state = run_epochs(state, rule, train_epoch, select, on_epoch_end, f"train {model.name}", show, metric)
    if best is None and checkpoints is not None:
        best = checkpoints.load_best()
    if best is not None:
        model.load_state_dict(best)
    model.eval()
    return FitResult(state)
