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

Checkpoints hold only tensors and plain Python values and are read with ``torch.load(weights_only=True)``, so
a run directory from someone else cannot run code when it is loaded.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch

from alignrec.errors import RunDirError
from alignrec.io import atomic_path, read_json, write_json, write_text
from alignrec.runs.config import RunConfig

CONFIG, DATASET, EPOCHS, LAST, BEST, METRICS, EXPORT = (
    "config.json", "dataset.json", "epochs.jsonl", "last.pt", "best.pt", "metrics.json", "export",
)


def save_torch(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: Path) -> Any:
    """A checkpoint of tensors and plain values; anything else in it (a pickled object) is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RunDirError(f"{path}: refused to load: it holds something other than tensors and plain values, "
                          f"which could run code ({str(exc).splitlines()[0]})") from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise RunDirError(f"{path}: not a readable checkpoint ({exc})") from exc


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a run directory (no {CONFIG})")
    config = RunConfig.load(path)
    data = read_json(path).get("data", {})
    if config.data.k_core > 1 and "keep_filtered_items" not in data:
        # written before k-core dropped filtered items from the index: its model is sized by the whole catalogue
        config.data.keep_filtered_items = True
    return config


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {METRICS}; the run has not finished (resume it with --resume)")
    return read_json(path)  # type: ignore[no-any-return]


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / EPOCHS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
        saved = load_torch(path)
        write_history(self.run_dir, saved["state"]["history"])
        return saved  # type: ignore[no-any-return]

    def save_last(self, state: dict[str, Any]) -> None:
        save_torch(self.run_dir / LAST, state)
        write_history(self.run_dir, state["state"]["history"])

    def save_best(self, epoch: int, weights: dict[str, torch.Tensor]) -> None:
        save_torch(self.run_dir / BEST, {"epoch": epoch, "model": weights})

    def load_best(self) -> dict[str, torch.Tensor] | None:
        path = self.run_dir / BEST
        return load_torch(path)["model"] if path.is_file() else None


class ReadOnlyCheckpoints(RunDirCheckpoints):
    """A run directory's checkpoints for a process that may resume from them but never writes (the processes
    other than 0 of a multi-process run)."""

    def load_last(self) -> dict[str, Any] | None:
        path = self.run_dir / LAST
        return load_torch(path) if self.resume and path.is_file() else None  # type: ignore[no-any-return]

    def save_last(self, state: dict[str, Any]) -> None:
        pass

    def save_best(self, epoch: int, weights: dict[str, torch.Tensor]) -> None:
        pass
