"""``alignrec evaluate``: re-compute a run's metrics from its saved best checkpoint."""

from __future__ import annotations

import argparse

from alignrec.cli.common import metrics_table, print_json
from alignrec.runs import evaluate_run, load_run

EXAMPLES = """examples:
  alignrec evaluate runs/sci-alignrec
  alignrec evaluate runs/sci-alignrec --split valid --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-compute metrics of a run from its checkpoint", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["valid", "test"])
    p.add_argument("--json", action="store_true", help="print all metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    loaded = load_run(args.run_dir)
    ranking = evaluate_run(loaded, args.split)
    metrics, users = ranking.means, ranking.users
    if args.json:
        print_json({"split": args.split, "users": len(users), "best_epoch": loaded.best_epoch, "metrics": metrics})
        return 0
    ks = loaded.config.topk
    print(f"{args.split} metrics of {loaded.config.model} (epoch {loaded.best_epoch}, {len(users)} users)")
    print(metrics_table({f"@{k}": {m: metrics[f"{m}@{k}"] for m in ("recall", "ndcg", "precision", "map", "hit")}
                         for k in ks}, ["recall", "ndcg", "precision", "map", "hit"]))
    return 0
