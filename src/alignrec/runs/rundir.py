"""Layout of a run directory and everything that reads or writes it.

::

    RUN_DIR/
      config.json     the resolved RunConfig (what defines the experiment; no run-time options)
      dataset.json    dataset statistics and the loader's report
      epochs.jsonl    one line per epoch: losses, validation metrics, seconds
      last.pt         full training state for --resume (model, optimiser, scheduler, loop state)
      best.pt         model weights at the best validation epoch
      metrics.json    final: best epoch, its validation metrics, test metrics (read once), timings
      export/         the run for serving, in open formats (alignrec.runs.export): written after metrics.json

Checkpoints hold only tensors and plain Python values and are read with ``torch.load(weights_only=True)``
(:func:`alignrec.content.weights.load_weights`), so a run directory from someone else cannot run code when it is
loaded. Every reader here checks what it reads (a checkpoint's entries, finite tensors, JSON objects, each line
of the epoch log) and names the file, and the line, at fault.
"""

from __future__ import annotations

import json
import os
import shutil
from numbers import Real
from pathlib import Path
from typing import Any

import torch

from alignrec.content.weights import load_weights, non_finite, tensor_dict
from alignrec.errors import AlignRecError, RunDirError
from alignrec.io import atomic_path, write_json, write_text
from alignrec.runs.config import RunConfig

CONFIG, DATASET, EPOCHS, LAST, BEST, METRICS, EXPORT = (
    "config.json", "dataset.json", "epochs.jsonl", "last.pt", "best.pt", "metrics.json", "export",
)


def save_torch(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: Path) -> Any:
    """A checkpoint of tensors and plain values (:func:`alignrec.content.weights.load_weights`)."""
    return load_weights(path, RunDirError)


def load_best(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    """``best.pt``'s weights (finite tensors by name) and its epoch; an error naming the file otherwise."""
    saved = load_torch(path)
    if not isinstance(saved, dict) or "model" not in saved:
        keys = sorted(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
        raise RunDirError(f"{path}: not a best-epoch checkpoint: no 'model' entry (it holds {keys})")
    epoch = saved.get("epoch", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise RunDirError(f"{path}: 'epoch' is {epoch!r}, not an epoch number")
    return tensor_dict(saved["model"], f"{path}: 'model'"), epoch


def read_object(path: Path, what: str = "file") -> dict[str, Any]:
    """The JSON object in ``path``; :class:`RunDirError` naming the file (and the line) when it is not one."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable {what} ({exc})") from exc
    if not isinstance(raw, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a run directory (no {CONFIG})")
    raw = read_object(path, "config")
    try:
        config = RunConfig.load(path)
    except AlignRecError as exc:  # a field out of range or an unknown model does not say which file it is in
        if str(path) in str(exc):
            raise
        raise RunDirError(f"{path}: {exc}") from exc
    except (ValueError, TypeError, AttributeError) as exc:  # a section that is not an object
        raise RunDirError(f"{path}: not a run configuration ({type(exc).__name__}: {exc})") from exc
    data = raw.get("data", {})
    if config.data.k_core > 1 and isinstance(data, dict) and "keep_filtered_items" not in data:
        # written before k-core dropped filtered items from the index: its model is sized by the whole catalogue
        config.data.keep_filtered_items = True
    return config


def _numbers(value: Any, where: str) -> None:
    """``value`` must be a dict of metric name -> number."""
    if not isinstance(value, dict):
        raise RunDirError(f"{where}: expected metric name -> number, got {type(value).__name__}")
    for key, number in value.items():
        if not isinstance(number, Real) or isinstance(number, bool):
            raise RunDirError(f"{where}: {key!r} is {number!r}, not a number")


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """``metrics.json``: an object whose ``valid`` and ``test`` (when present) map metric names to numbers."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {METRICS}; the run has not finished (resume it with --resume)")
    metrics = read_object(path, "metrics file")
    for part in ("valid", "test"):
        if part in metrics:
            _numbers(metrics[part], f"{path}: {part!r}")
    return metrics


def read_card(run_dir: Path) -> dict[str, Any] | None:
    """``dataset.json`` (``stats`` and the loader's ``report``, both objects), or None when the run has none."""
    path = Path(run_dir) / DATASET
    if not path.is_file():
        return None
    card = read_object(path, "dataset card")
    for key in ("stats", "report"):
        if not isinstance(card.get(key, {}), dict):
            raise RunDirError(f"{path}: {key!r} must be an object, got {type(card[key]).__name__}")
    return card


def check_history_row(row: Any, where: str) -> dict[str, Any]:
    """One epoch row: an object with an integer ``epoch`` and numbers (or null) for the loss and validation
    metrics, which the report plots."""
    if not isinstance(row, dict):
        raise RunDirError(f"{where}: expected an object, got {type(row).__name__}")
    epoch = row.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise RunDirError(f"{where}: 'epoch' is {epoch!r}, not an epoch number")
    for key, value in row.items():
        plotted = key == "loss" or key.startswith("valid_")
        if plotted and value is not None and (not isinstance(value, Real) or isinstance(value, bool)):
            raise RunDirError(f"{where}: {key!r} is {value!r}, not a number")
    return row


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """``epochs.jsonl``, one object per line; an error naming the file and the line at fault."""
    path = Path(run_dir) / EPOCHS
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable epoch log ({exc})") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{path}: line {number} is not valid JSON (column {exc.colno}: {exc.msg})") from exc
        rows.append(check_history_row(row, f"{path}: line {number}"))
    return rows


def write_history(run_dir: Path, history: list[dict[str, Any]]) -> None:
    write_text(Path(run_dir) / EPOCHS, "".join(json.dumps(row) + "\n" for row in history))


def prepare(run_dir: Path, config: RunConfig, resume: bool, overwrite: bool) -> None:
    """Check that ``run_dir`` may be used, then write ``config.json`` (atomically)."""
    if run_dir.exists() and any(run_dir.iterdir()):
        if resume:
            saved = read_config(run_dir)
            if saved.to_dict() != config.to_dict():
                raise RunDirError(f"{run_dir}: --resume with a different configuration than the saved {CONFIG}")
            return
        if not overwrite:
            raise RunDirError(f"{run_dir}: already exists; use --resume to continue it or --overwrite to replace it")
        for name in (CONFIG, DATASET, EPOCHS, LAST, BEST, METRICS):
            if (run_dir / name).exists():
                os.remove(run_dir / name)
        shutil.rmtree(run_dir / EXPORT, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG, config.to_dict())


class RunDirCheckpoints:
    """The trainer's checkpoints in a run directory (see :class:`alignrec.training.Checkpoints`).

    ``resume=False`` ignores an old ``last.pt``; the log ``epochs.jsonl`` is rewritten with every ``last.pt``
    so the two always agree.
    """

    def __init__(self, run_dir: Path, resume: bool) -> None:
        self.run_dir, self.resume = Path(run_dir), resume

    def load_last(self) -> dict[str, Any] | None:
        path = self.run_dir / LAST
        if not self.resume or not path.is_file():
            return None
        saved = load_last(path)
        write_history(self.run_dir, saved["state"]["history"])
        return saved

    def save_last(self, state: dict[str, Any]) -> None:
        save_torch(self.run_dir / LAST, state)
        write_history(self.run_dir, state["state"]["history"])

    def save_best(self, epoch: int, weights: dict[str, torch.Tensor]) -> None:
        save_torch(self.run_dir / BEST, {"epoch": epoch, "model": weights})

    def load_best(self) -> dict[str, torch.Tensor] | None:
        path = self.run_dir / BEST
        return load_best(path)[0] if path.is_file() else None


class ReadOnlyCheckpoints(RunDirCheckpoints):
    """A run directory's checkpoints for a process that may resume from them but never writes (the processes
    other than 0 of a multi-process run)."""

    def load_last(self) -> dict[str, Any] | None:
        path = self.run_dir / LAST
        return load_last(path) if self.resume and path.is_file() else None

    def save_last(self, state: dict[str, Any]) -> None:
        pass

    def save_best(self, epoch: int, weights: dict[str, torch.Tensor]) -> None:
        pass


LAST_STATE = {"epoch": int, "best_epoch": int, "bad_epochs": int, "done": bool, "best_score": Real}


def load_last(path: Path) -> dict[str, Any]:
    """``last.pt`` checked for what a resume reads: finite model weights, optimiser and scheduler states, and
    the loop state with its history; an error naming the file otherwise. With ``best.pt`` beside it, both
    must hold the same tensors (names and shapes), as one run writes both."""
    saved = load_torch(path)
    if not isinstance(saved, dict) or not {"model", "optimizer", "scheduler", "state"} <= set(saved):
        keys = sorted(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
        raise RunDirError(f"{path}: not a training state: needs 'model', 'optimizer', 'scheduler' and 'state' "
                          f"(it holds {keys})")
    model = tensor_dict(saved["model"], f"{path}: 'model'")
    for key in ("optimizer", "scheduler", "state"):
        if not isinstance(saved[key], dict):
            raise RunDirError(f"{path}: {key!r} is a {type(saved[key]).__name__}, not a state dict")
    if bad := non_finite(saved["optimizer"]):
        raise RunDirError(f"{path}: optimizer entry {bad!r} holds NaN or inf")
    state = saved["state"]
    for key, kind in LAST_STATE.items():
        if key in state and (not isinstance(state[key], kind) or (kind is not bool and isinstance(state[key], bool))):
            raise RunDirError(f"{path}: state {key!r} is {state[key]!r}, not a {kind.__name__}")
    history = state.get("history")
    if not isinstance(history, list):
        raise RunDirError(f"{path}: state 'history' is {type(history).__name__}, not a list of epoch rows")
    for number, row in enumerate(history):
        check_history_row(row, f"{path}: history row {number}")
    best = path.with_name(BEST)
    if best.is_file():
        def layout(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[Any, ...]]:
            return {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}
        if layout(load_best(best)[0]) != layout(model):
            raise RunDirError(f"{path}: its model tensors differ in names, shapes or types from {best}'s; the two "
                              "files are not from the same run")
    return saved
