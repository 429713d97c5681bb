"""``alignrec quickstart``: MovieLens-100K + MiniLM text, LightGCN vs AlignRec, test metrics side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignrec.quickstart import run_quickstart

EXAMPLES = """examples:
  alignrec quickstart
  alignrec quickstart --epochs 50 --runs-dir /tmp/runs
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="LightGCN vs AlignRec on MovieLens-100K (data from a PyPI wheel)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, help="where data and features go (default: the alignrec cache)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--seed", type=int, default=2024)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results = run_quickstart(args.workdir, args.runs_dir, args.epochs, args.patience, args.seed)
    total = results.pop("_total_seconds")["seconds"]
    cols = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
    print("\nMovieLens-100K (ratings >= 4, random 8:1:1 split), test metrics at the best validation epoch")
    print("| model | " + " | ".join(cols) + " | best epoch | seconds |")
    print("|---" * (len(cols) + 3) + "|")
    for model, m in results.items():
        print(f"| {model} | " + " | ".join(f"{m[c]:.4f}" for c in cols) +
              f" | {int(m['best_epoch'])} | {m['seconds']:.0f} |")
    print(f"total {total:.0f} s; runs in {args.runs_dir}/quickstart-*; try: alignrec recommend "
          f"{args.runs_dir}/quickstart-alignrec --user 1")
    return 0
