"""``alignrec pretrain``: stage 1 of AlignRec, per-modality features to one unified feature file."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from alignrec.cli.common import add_data_args, data_config
from alignrec.config import parse_assignments
from alignrec.content.build import derive_folder, pretrain_dataset
from alignrec.content.pretrain import PretrainConfig
from alignrec.data import load_dataset

EXAMPLES = """examples:
  alignrec pretrain ../shared/data/amazon-scientific --out derived/sci          # derived folder, no copies
  alignrec pretrain derived/ml100k --out derived/ml100k --set fusion=mlp --set recon_weight=1
  alignrec pretrain derived/ml100k --out derived/ml100k-cf --collaborative --rating-threshold 4 --split random
  alignrec train derived/sci --model alignrec --param feature=unified
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pre-train MMEnc and write unified_feat.npy", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--out", required=True, help="folder for unified_feat.npy (a folder other than DATA becomes "
                                                "a derived dataset folder linking to DATA's files)")
    p.add_argument("--log-dir", help="checkpoint and training log (default: OUT/pretrain)")
    names = [f.name for f in dataclasses.fields(PretrainConfig)]
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help=f"pre-training option, repeatable; one of {names}")
    p.add_argument("--collaborative", action="store_true",
                   help="also use items co-interacted in the TRAINING split as positives (off by default)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    values: dict[str, object] = dict(parse_assignments(args.set))
    if args.collaborative:
        values["collaborative"] = True
    config = PretrainConfig.from_dict(values)
    out = Path(args.out)
    if out.resolve() != Path(args.data).resolve():
        derive_folder(args.data, out)
    features = args.features or None
    dataset = load_dataset(dataclasses.replace(data_config(args), features=features))
    target = pretrain_dataset(dataset, config, out, Path(args.log_dir) if args.log_dir else out / "pretrain",
                              not args.no_progress)
    print(f"unified feature: {target}")
    return 0
