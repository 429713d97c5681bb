"""Seconds per training epoch, seconds per full evaluation and peak memory of each model.

An evaluation is timed twice: from the trained model (computing its embeddings, as the reference code's evaluation
does) and from its cached embeddings (the ranking alone), beside the bare floor of that ranking: one dense product of
the evaluated users with every item and ``torch.topk``.

Each model runs in its own process so that peak RSS is its own. Example::

    python benchmarks/speed.py ../shared/data/amazon-scientific --out benchmarks/results/speed-amazon-scientific
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from alignrec.data import Dataset
    from alignrec.models.base import Recommender


def measure(data: str, model: str, epochs: int, evals: int, threads: int, params: list[str]) -> dict:
    # alignrec before torch: its OpenMP setting must be in place when torch loads
    from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, load_dataset, train  # noqa: I001
    from alignrec.config import model_params
    from alignrec.evaluation import evaluate_split
    import torch

    dataset = load_dataset(DataConfig(path=data))
    overrides = model_params(params, model)
    config = RunConfig(data=DataConfig(path=data), model=model, params=overrides,
                       train=TrainConfig(epochs=epochs, patience=epochs))
    result = train(config, dataset=dataset, runtime=RuntimeOptions(progress=False, threads=threads))
    trained = result.model
    eval_secs, ranking_secs = [], []
    for _ in range(evals):
        trained.eval()  # drops the cached embeddings: an evaluation computes them, as the reference code's does
        eval_secs.append(seconds(lambda: evaluate_split(trained.score, dataset, "test", config.topk)))
        ranking_secs.append(seconds(lambda: evaluate_split(trained.score, dataset, "test", config.topk)))
    train_secs = [row["train_seconds"] for row in result.history]
    return {
        "model": model, "params": overrides, "threads": torch.get_num_threads(), "epochs": len(train_secs),
        "train_seconds_per_epoch_median": float(np.median(train_secs)) if train_secs else 0.0,
        "eval_seconds_median": float(np.median(eval_secs)),
        "ranking_seconds_median": float(np.median(ranking_secs)),
        "floor_seconds_median": floor_seconds(trained, dataset, max(config.topk), evals),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def floor_seconds(model: Recommender, dataset: Dataset, k: int, repeats: int) -> float | None:
    """The bare floor of a full ranking from given embeddings: one dense product of the evaluated users' rows with
    every item, then ``torch.topk`` (no exclusions, no metrics); None for a model without embeddings."""
    import torch

    with torch.no_grad():
        embeddings = model.embeddings()
        if embeddings is None:
            return None
        users_emb, items_emb = embeddings
        users = torch.from_numpy(np.flatnonzero(np.diff(dataset.matrix("test").indptr) > 0))
        k = min(k, items_emb.shape[0])
        return float(np.median([seconds(lambda: torch.topk(users_emb[users] @ items_emb.T, k, dim=1))
                                for _ in range(repeats)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--models", nargs="+", default=["pop", "bpr", "lightgcn", "alignrec"],
                        help="registry names (benchmarks/run_performance.sh passes every model)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--evals", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--param", action="append", default=[], metavar="MODEL:NAME=VALUE",
                        help="a model parameter, e.g. alignrec:contrastive_bf16=true")
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.data, args.one, args.epochs, args.evals, args.threads, args.param)))
        return
    from alignrec.config import model_params

    for model in args.models:
        model_params(args.param, model)  # a malformed --param fails before any measurement
    rows = []
    for model in args.models:
        out = subprocess.run([sys.executable, "-W", "ignore", __file__, args.data, "--one", model, "--epochs",
                              str(args.epochs), "--evals", str(args.evals), "--threads", str(args.threads),
                              "--out", args.out, *(f"--param={p}" for p in args.param)],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    from alignrec.io import write_json, write_text
    from alignrec.tables import table

    write_json(args.out + ".json", {"data": args.data, "rows": rows})
    def label(row: dict) -> str:
        return row["model"] + "".join(f" {key}={value}" for key, value in row.get("params", {}).items())

    def floor(row: dict) -> str:
        if row.get("floor_seconds_median") is None:
            return "–"
        return f"{row['floor_seconds_median']:.3f} ({row['ranking_seconds_median'] / row['floor_seconds_median']:.1f}x)"

    text = table(["model", "s / train epoch (median)", "s / full evaluation (median)", "s / ranking, embeddings given",
                  "s / floor: product + topk (ranking ÷ floor)", "peak RSS (MB)"],
                 [[label(r), f"{r['train_seconds_per_epoch_median']:.3f}", f"{r['eval_seconds_median']:.3f}",
                   f"{r['ranking_seconds_median']:.3f}", floor(r), f"{r['peak_rss_mb']:.0f}"] for r in rows])
    write_text(args.out + ".md", text)
    print(text, end="")


if __name__ == "__main__":
    main()
