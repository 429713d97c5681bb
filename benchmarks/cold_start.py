"""Cold-start items: a share of the items is held out of training entirely; how well are they ranked?

For each training seed: train on the cold-start split (``--cold-item-fraction``; half of the held-out items carry
validation interactions, half test interactions), early-stop on validation, then rank only the held-out items for
the users who have a held-out test item (``evaluation.beyond.cold_start_metrics``). Writes ``OUT.json`` (per-seed
values) and ``OUT.md`` (mean ± sample std). Example::

    python benchmarks/cold_start.py ../shared/data/amazon-scientific --cold-item-fraction 0.1 \\
        --seeds 1 2 3 4 999 --min-epochs 50 --out benchmarks/results/cold-start-amazon-scientific
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, load_dataset, train
from alignrec.evaluation.beyond import cold_items, cold_start_metrics
from alignrec.io import write_json, write_text
from alignrec.tables import table

COLUMNS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--cold-item-fraction", type=float, default=0.1)
    parser.add_argument("--model", default="alignrec")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 999])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--min-epochs", type=int, default=TrainConfig().min_epochs)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. the code version)")
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    args = parser.parse_args()

    data = DataConfig(path=args.data, cold_item_fraction=args.cold_item_fraction)
    dataset = load_dataset(data)
    runs = []
    for seed in args.seeds:
        config = RunConfig(data=data, model=args.model, train=TrainConfig(
            seed=seed, epochs=args.epochs, patience=args.patience, min_epochs=args.min_epochs))
        t0 = time.perf_counter()
        result = train(config, dataset=dataset, runtime=RuntimeOptions(progress=False, threads=args.threads))
        cold, users = cold_start_metrics(result.model.score, dataset, "test", [10, 20])
        runs.append({"seed": seed, "best_epoch": result.best_epoch, "cold_test": cold, "cold_users": users,
                     "test": {c: result.test[c] for c in COLUMNS}, "seconds": time.perf_counter() - t0})
        print({"seed": seed, "best_epoch": result.best_epoch, **{c: round(cold[c], 4) for c in COLUMNS}}, flush=True)
    write_json(args.out + ".json", {"data": args.data, "cold_item_fraction": args.cold_item_fraction,
                                    "cold_items": len(cold_items(dataset)), "model": args.model,
                                    "label": args.label, "runs": runs})

    def cell(key: str, metric: str) -> str:
        vals = np.array([r[key][metric] for r in runs])
        return f"{vals.mean():.4f} ± {vals.std(ddof=1) if len(vals) > 1 else 0.0:.4f}"

    text = (f"{args.model} on {args.data}, {len(cold_items(dataset))} cold items "
            f"(fraction {args.cold_item_fraction}), seeds {args.seeds}, best epochs "
            f"{[r['best_epoch'] for r in runs]}. {args.label}\n\n"
            + table(["ranking", *COLUMNS],
                    [["cold items only (test users with a cold test item)", *(cell("cold_test", c) for c in COLUMNS)],
                     ["all items (every test user)", *(cell("test", c) for c in COLUMNS)]]))
    write_text(args.out + ".md", text)
    print(text)


if __name__ == "__main__":
    main()
