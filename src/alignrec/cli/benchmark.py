"""``alignrec benchmark``: models x datasets x seeds with their tuned configs, into a leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignrec.io import write_text

EXAMPLES = """examples:
  alignrec benchmark bench.toml --out leaderboard/ --set seeds=1,2,999
a benchmark config (TOML):
  models = ["bpr", "lightgcn", "freedom", "alignrec"]
  seeds = [1, 2, 3, 4, 999]
  tuned = "tuning"            # optional: tuning/<dataset>/<model>/best_config.json from alignrec tune
  [[datasets]]
  name = "amazon-scientific"
  data = {path = "../shared/data/amazon-scientific"}
  models = ["bpr", "alignrec"]   # optional: this dataset's own model list
Finished runs are kept: run the same command again to resume.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="models x datasets x seeds into a leaderboard (resumable)", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="benchmark config (JSON or TOML)")
    p.add_argument("--out", required=True, help="folder for runs/, leaderboard.{md,csv,json,html}")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    p.add_argument("--threads", type=int, help="torch threads of each run")
    p.add_argument("--finished-only", action="store_true",
                   help="run nothing: write the leaderboard from the runs that have finished")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alignrec.reporting.leaderboard import render
    from alignrec.runs.benchmark import BenchmarkConfig, leaderboard, run_benchmark

    config = BenchmarkConfig.load(args.config, args.set)
    if args.threads:
        config.threads = args.threads
    rows = run_benchmark(config, args.out, finished_only=args.finished_only)
    write_text(Path(args.out) / "leaderboard.html", render(leaderboard(rows)))
    print((Path(args.out) / "leaderboard.md").read_text())
    return 0
