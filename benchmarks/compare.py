"""Train several models over several seeds on one dataset; write per-run metrics and a mean ± std table.

Example::

    python benchmarks/compare.py ../shared/data/amazon-scientific --models bpr lightgcn alignrec \\
        --seeds 1 2 3 --out benchmarks/results/amazon-scientific.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, load_dataset, train
from alignrec.config import apply_overrides, build_dataclass, model_params
from alignrec.io import write_json, write_text
from alignrec.tables import table

COLUMNS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--models", nargs="+", default=["bpr", "lightgcn", "alignrec"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--split", default="auto")
    parser.add_argument("--rating-threshold", type=float)
    parser.add_argument("--features", nargs="*", help="modality feature names to load (default: all)")
    parser.add_argument("--param", action="append", default=[], help="MODEL:NAME=VALUE, e.g. alignrec:knn_k=10")
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--min-epochs", type=int, default=TrainConfig().min_epochs,
                        help="default: TrainConfig's, the project's stopping rule")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="any data.* or train.* field for every run, e.g. train.lr_decay=1 data.keep_duplicates=1")
    parser.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    overrides = apply_overrides({}, args.set)
    data_fields = {"path": args.data, "split": args.split, "rating_threshold": args.rating_threshold,
                   "features": args.features, **overrides.get("data", {})}
    data = build_dataclass(DataConfig, data_fields, "data")
    dataset = load_dataset(data)
    runtime = RuntimeOptions(progress=False, threads=args.threads)
    params_by_model = {model: model_params(args.param, model) for model in args.models}  # bad ones fail first
    runs = []
    for model in args.models:
        params = params_by_model[model]
        for seed in args.seeds:
            train_fields = {"seed": seed, "patience": args.patience, "epochs": args.epochs,
                            "min_epochs": args.min_epochs, **overrides.get("train", {})}
            config = RunConfig(data=data, model=model, params=params,
                               train=build_dataclass(TrainConfig, train_fields, "train"))
            t0 = time.perf_counter()
            result = train(config, dataset=dataset, runtime=runtime)
            secs = [row["train_seconds"] for row in result.history]
            runs.append({"model": model, "seed": seed, "params": config.to_dict()["params"],
                         "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                         "valid": result.valid, "test": result.test,
                         "median_train_seconds_per_epoch": float(np.median(secs)) if secs else 0.0,
                         "wall_seconds": time.perf_counter() - t0})
            print(json.dumps({k: runs[-1][k] for k in ("model", "seed", "best_epoch")}
                             | {c: round(result.test[c], 4) for c in COLUMNS}), flush=True)
    summary = summary_table(runs, args.models)
    write_json(args.out, {"dataset": dataset.stats(), "data_config": vars(args), "runs": runs})
    write_text(Path(args.out).with_suffix(".md"), summary)
    print(summary)


def summary_table(runs: list[dict], models: list[str]) -> str:
    rows = []
    for model in models:
        mine = [r for r in runs if r["model"] == model]
        cells = []
        for c in COLUMNS:
            vals = np.array([r["test"][c] for r in mine])
            cells.append(f"{vals.mean():.4f} ± {vals.std(ddof=1) if len(vals) > 1 else 0:.4f}")
        epochs = ", ".join(str(r["best_epoch"]) for r in mine)
        spe = np.median([r["median_train_seconds_per_epoch"] for r in mine])
        rows.append([model, *cells, epochs, f"{spe:.3f}"])
    return table(["model", *(f"test {c}" for c in COLUMNS), "best epoch", "s/epoch"], rows)


if __name__ == "__main__":
    main()
