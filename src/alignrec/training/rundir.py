"""Layout of a run directory and the helpers that read and write it.

::

    RUN_DIR/
      config.json     resolved RunConfig
      dataset.json    dataset statistics and the loader's report
      epochs.jsonl    one line per epoch: losses, validation metrics, seconds
      last.pt         full training state for --resume (model, optimiser, history)
      best.pt         model weights at the best validation epoch
      metrics.json    final: best epoch, its validation metrics, test metrics (read once), timings
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from alignrec.config import RunConfig
from alignrec.errors import RunDirError
from alignrec.io import atomic_path, read_json, write_json, write_text

CONFIG, DATASET, EPOCHS, LAST, BEST, METRICS = (
    "config.json", "dataset.json", "epochs.jsonl", "last.pt", "best.pt", "metrics.json",
)


def save_torch(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=False)


def write_epochs(run_dir: Path, history: list[dict[str, Any]]) -> None:
    write_text(run_dir / EPOCHS, "".join(json.dumps(row) + "\n" for row in history))


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a run directory (no {CONFIG})")
    return RunConfig.load(path)


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise RunDirError(f"{run_dir}: no {METRICS}; the run has not finished (resume it with --resume)")
    return read_json(path)


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
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG, config.to_dict())
