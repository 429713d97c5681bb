"""``alignrec data info``: statistics and the validation report of a dataset."""

from __future__ import annotations

import argparse

from alignrec.cli.common import add_data_args, data_config, print_json
from alignrec.data import load_dataset

EXAMPLES = """examples:
  alignrec data info ../shared/data/amazon-scientific
  alignrec data info ../shared/data/movielens-100k-posters --rating-threshold 4 --split random --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset tools")
    inner = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    info = inner.add_parser("info", help="statistics and validation report", epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(info)
    info.add_argument("--json", action="store_true")
    info.add_argument("--no-cache", action="store_true", help="re-read the files even if a cache entry exists")
    info.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    dataset = load_dataset(data_config(args), use_cache=not args.no_cache)
    out = {"stats": dataset.stats(), "report": dataset.report}
    if args.json:
        print_json(out)
        return 0
    for section, values in out.items():
        print(f"{section}:")
        for key, value in values.items():
            print(f"  {key:<34} {value}")
    return 0
