"""The epoch loop shared by stage-2 training and stage-1 pre-training: mini-batch steps, a selection score per
epoch, early stopping, and a guard that stops on a non-finite loss before it reaches the weights.

The loop knows nothing about models or run directories: callers pass the work of one epoch, how to score it,
and what to do at the end of each epoch (checkpoint, keep the best weights). Its :class:`LoopState` holds
everything a resumed loop needs and contains only plain Python values, so it can be saved with the weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from alignrec.errors import AlignRecError
from alignrec.progress import progress


class NonFiniteLossError(AlignRecError):
    """A loss term became NaN or infinite; the step was not applied."""


@dataclass
class StopRule:
    """At most ``max_epochs``; stop after ``patience`` epochs without a better score, but not before
    ``min_epochs`` epochs have run."""

    max_epochs: int
    patience: int
    min_epochs: int = 0

    def should_stop(self, epoch: int, bad_epochs: int) -> bool:
        return bad_epochs >= self.patience and epoch + 1 >= self.min_epochs


@dataclass
class LoopState:
    """Where the loop is: the last finished epoch, the best one so far, and one history row per epoch."""

    epoch: int = -1
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    done: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LoopState:
        return cls(**{k: raw[k] for k in ("epoch", "best_score", "best_epoch", "bad_epochs", "done", "history")
                      if k in raw})


def check_finite(terms: dict[str, torch.Tensor], epoch: int, batch: int) -> None:
    """Raise :class:`NonFiniteLossError` naming the first NaN/inf term of a batch's loss (its parts before the
    total ``"loss"``, so the message points at the term that broke)."""
    for name, value in sorted(terms.items(), key=lambda kv: kv[0] == "loss"):
        if not torch.isfinite(value.detach()).all():
            raise NonFiniteLossError(
                f"epoch {epoch}, batch {batch}: loss term {name!r} is {float(value.detach()):.4g}; training "
                f"stopped before applying this step (lower the learning rate or the term's weight)")


def optimise_batches(batches: Iterable[Any], loss_fn: Callable[[Any], dict[str, torch.Tensor]],
                     optimizer: torch.optim.Optimizer, epoch: int, batch_size_of: Callable[[Any], int],
                     after_backward: Callable[[], None] | None = None) -> dict[str, float]:
    """One pass of optimiser steps; returns each loss term averaged over the samples of the epoch.
    ``after_backward`` runs between each backward pass and its step (e.g. to average gradients over processes)."""
    totals: dict[str, float] = {}
    seen = 0
    for number, batch in enumerate(batches):
        terms = loss_fn(batch)
        check_finite(terms, epoch, number)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if after_backward is not None:
            after_backward()
        optimizer.step()
        size = batch_size_of(batch)
        seen += size
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach()) * size
    return {name: value / max(seen, 1) for name, value in totals.items()}


def run_epochs(state: LoopState, rule: StopRule, train_epoch: Callable[[int], dict[str, float]],
               select: Callable[[int, dict[str, Any]], float], on_epoch_end: Callable[[LoopState, bool], None],
               desc: str, show_progress: bool = True, metric_name: str = "score") -> LoopState:
    """Run epochs from ``state.epoch + 1`` until ``rule`` stops them.

    ``train_epoch(epoch)`` returns the epoch's mean loss terms; ``select(epoch, row)`` returns the selection
    score (higher is better) and may add entries to the history ``row``; ``on_epoch_end(state, improved)``
    runs after the state is updated (checkpoint, keep best weights). Returns the final state, ``done`` set.
    """
    if state.done:
        return state
    bar = progress(range(state.epoch + 1, rule.max_epochs), desc=desc, unit="epochs", enabled=show_progress,
                   initial=state.epoch + 1, total=rule.max_epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        losses = train_epoch(epoch)
        t1 = time.perf_counter()
        row: dict[str, Any] = {"epoch": epoch, **losses}
        score = select(epoch, row)
        row.update(train_seconds=t1 - t0, eval_seconds=time.perf_counter() - t1)
        improved = score > state.best_score
        if improved:
            state.best_score, state.best_epoch, state.bad_epochs = score, epoch, 0
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        state.history.append(row)
        stop = rule.should_stop(epoch, state.bad_epochs)
        state.done = stop or epoch == rule.max_epochs - 1
        on_epoch_end(state, improved)
        bar.set_postfix(loss=f"{losses.get('loss', float('nan')):.4f}", **{metric_name: f"{score:.4f}"},
                        best=f"{state.best_score:.4f}@{state.best_epoch}")
        if stop:
            break
    bar.close()
    state.done = True
    return state
