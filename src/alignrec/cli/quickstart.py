"""``alignrec quickstart``: the ``alignrec run`` pipeline on MovieLens-100K; LightGCN vs AlignRec side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignrec.cli.common import add_runtime_args, runtime_options
from alignrec.runs.quickstart import run_quickstart
from alignrec.tables import table

EXAMPLES = """examples:
  alignrec quickstart
  alignrec quickstart --epochs 50 --runs-dir /tmp/runs
  alignrec quickstart > quickstart.log 2>&1     # plain progress lines instead of live bars
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="encode, pretrain, train on MovieLens-100K: LightGCN vs AlignRec",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, help="where the data and the encode cache go (default: the alignrec cache)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="the pipeline writes RUNS_DIR/quickstart")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--seed", type=int, default=2024)
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    summary = run_quickstart(args.workdir, args.runs_dir, args.epochs, args.patience, args.seed,
                             runtime=runtime_options(args))
    work = args.runs_dir / "quickstart"
    runs = {**summary["baselines"], "alignrec": summary["stage2"]}
    dirs = {name: work / "baselines" / name / "run" for name in summary["baselines"]} | {"alignrec": work / "run"}
    cols = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
    print("\nMovieLens-100K (ratings >= 4, random 8:1:1 split), test metrics at the best validation epoch")
    print(table(["model", *cols, "best epoch", "run directory"],
                [[model, *(f"{m['test'][c]:.4f}" for c in cols), str(int(m["best_epoch"])), str(dirs[model])]
                 for model, m in runs.items()]), end="")
    zero = ", ".join(f"{name} {parts['test']['recall@20']:.4f}" for name, parts in summary["zero_shot"].items())
    print(f"zero-shot test recall@20 (no training): {zero}")
    print(f"total {summary['seconds']:.0f} s; try: alignrec recommend {work / 'run'} --user 1, or the service and "
          f"its page: alignrec serve {work / 'run'}")
    return 0
