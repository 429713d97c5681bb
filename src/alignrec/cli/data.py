"""``alignrec data info``: statistics and the validation report of a dataset; ``alignrec data synthetic``: a
synthetic dataset for scale tests."""

from __future__ import annotations

import argparse

from alignrec.cli.common import add_data_args, data_config, print_json
from alignrec.data import load_dataset

EXAMPLES = """examples:
  alignrec data info ../shared/data/amazon-scientific
  alignrec data info ../shared/data/movielens-100k-posters --rating-threshold 4 --split random --json
"""

SYNTHETIC_EXAMPLES = """example (for time and memory tests only, never for accuracy claims):
  alignrec data synthetic /tmp/syn-1m --users 1000000 --items 200000 --interactions 20000000 --seed 0
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
    syn = inner.add_parser("synthetic", help="write a synthetic dataset (power-law users and items, features "
                           "sharing the interactions' structure) for scale tests", epilog=SYNTHETIC_EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    syn.add_argument("out", help="dataset folder to create (must not exist)")
    syn.add_argument("--users", type=int, required=True)
    syn.add_argument("--items", type=int, required=True)
    syn.add_argument("--interactions", type=int, required=True, help="distinct (user, item) pairs")
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--feature-dim", type=int, default=64, help="width of the image and the text feature")
    syn.set_defaults(func=run_synthetic)


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


def run_synthetic(args: argparse.Namespace) -> int:
    from alignrec.data.synthetic import SyntheticSpec, write_synthetic

    spec = SyntheticSpec(args.users, args.items, args.interactions, seed=args.seed,
                         feature_dims={"image": args.feature_dim, "text": args.feature_dim})
    folder = write_synthetic(spec, args.out)
    print(f"wrote {folder} ({args.interactions:,} interactions, {args.users:,} users x {args.items:,} items)")
    return 0
