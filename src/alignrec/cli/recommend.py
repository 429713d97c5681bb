"""``alignrec recommend``: top-k items for users from a trained run."""

from __future__ import annotations

import argparse

from alignrec.cli.common import print_json
from alignrec.serving import load_run, recommend

EXAMPLES = """examples:
  alignrec recommend runs/sci-alignrec --user 0 -k 10
  alignrec recommend runs/ml-alignrec --user 196 --user 186 --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="print top-k items for a user (training items excluded)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--user", action="append", required=True, help="raw user ID as in the data file; repeatable")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = recommend(load_run(args.run_dir), args.user, args.k)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        if row["rank"] == 1:
            print(f"user {row['user']}:")
        text = f"  {row['text'][:90]}" if row["text"] else ""
        print(f"  {row['rank']:>3}. item {row['item']:<12} score {row['score']:8.4f}{text}")
    return 0
