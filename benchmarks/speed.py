"""Seconds per training epoch, seconds per full evaluation and peak memory of each model.

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

import numpy as np


def measure(data: str, model: str, epochs: int, evals: int, threads: int, params: list[str]) -> dict:
    # alignrec before torch: its OpenMP setting must be in place when torch loads
    from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, load_dataset, train  # noqa: I001
    from alignrec.config import apply_overrides
    from alignrec.evaluation import evaluate_split
    import torch

    dataset = load_dataset(DataConfig(path=data))
    overrides = apply_overrides({}, [p.split(":", 1)[1] for p in params if p.startswith(f"{model}:")])
    config = RunConfig(data=DataConfig(path=data), model=model, params=overrides,
                       train=TrainConfig(epochs=epochs, patience=epochs))
    result = train(config, dataset=dataset, runtime=RuntimeOptions(progress=False, threads=threads))
    eval_secs = []
    for _ in range(evals):
        t0 = time.perf_counter()
        evaluate_split(result.model.score, dataset, "test", config.topk)
        eval_secs.append(time.perf_counter() - t0)
    train_secs = [row["train_seconds"] for row in result.history]
    return {
        "model": model, "params": overrides, "threads": torch.get_num_threads(), "epochs": len(train_secs),
        "train_seconds_per_epoch_median": float(np.median(train_secs)) if train_secs else 0.0,
        "eval_seconds_median": float(np.median(eval_secs)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


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

    text = table(["model", "s / train epoch (median)", "s / full evaluation (median)", "peak RSS (MB)"],
                 [[label(r), f"{r['train_seconds_per_epoch_median']:.3f}", f"{r['eval_seconds_median']:.3f}",
                   f"{r['peak_rss_mb']:.0f}"] for r in rows])
    write_text(args.out + ".md", text)
    print(text, end="")


if __name__ == "__main__":
    main()
