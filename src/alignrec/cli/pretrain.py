"""``alignrec pretrain``: stage 1 of AlignRec, per-modality features to one unified feature file."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from alignrec.cli.common import (
    add_config_args,
    add_data_args,
    add_runtime_args,
    config_tree,
    data_section,
    runtime_options,
)
from alignrec.config import DataConfig, build_dataclass
from alignrec.content.build import UNIFIED, derive_folder, pretrain_dataset
from alignrec.content.pretrain import PretrainConfig
from alignrec.data import load_dataset
from alignrec.data.dataset import FEATURE_SUFFIX
from alignrec.errors import ConfigError
from alignrec.training import configure_cpu

EXAMPLES = """examples:
  alignrec pretrain ../shared/data/amazon-scientific --out derived/sci          # derived folder, no copies
  alignrec pretrain derived/ml100k --out derived/ml100k --set pretrain.fusion=mlp --set pretrain.recon_weight=1
  alignrec pretrain derived/ml100k --out derived/ml100k-cf --collaborative --rating-threshold 4 --split random
  alignrec train derived/sci --model alignrec --param feature=unified
(--set FIELD=VALUE without a section means pretrain.FIELD)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pre-train MMEnc and write unified_feat.npy", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p, required=False)
    p.add_argument("--out", required=True, help="folder for unified_feat.npy (a folder other than DATA becomes "
                                                "a derived dataset folder linking to DATA's files)")
    p.add_argument("--log-dir", help="checkpoint and training log (default: OUT/pretrain)")
    add_config_args(p)
    p.add_argument("--collaborative", action="store_true",
                   help="also use items co-interacted in the TRAINING split as positives (off by default)")
    add_runtime_args(p, device=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    tree = config_tree(args, {"data": data_section(args),
                              "pretrain": {"collaborative": True} if args.collaborative else {}}, "pretrain.")
    unknown = set(tree) - {"data", "pretrain"}
    if unknown:
        raise ConfigError(f"pretrain: unknown config section(s) {sorted(unknown)}; known: ['data', 'pretrain']")
    data = build_dataclass(DataConfig, tree.get("data", {}), "data")
    if not data.path:
        raise ConfigError("give a dataset folder (DATA) or --config FILE with data.path")
    config = build_dataclass(PretrainConfig, tree.get("pretrain", {}), "pretrain")
    runtime = runtime_options(args)
    configure_cpu(runtime.threads)
    out = Path(args.out)
    if out.resolve() != Path(data.path).resolve():
        derive_folder(data.path, out)
    modalities = data.features or sorted(p.name[: -len(FEATURE_SUFFIX)] for p in Path(data.path).glob(
        f"*{FEATURE_SUFFIX}") if p.name != f"{UNIFIED}{FEATURE_SUFFIX}")  # an old unified feature is not an input
    dataset = load_dataset(dataclasses.replace(data, features=modalities, keep_filtered_items=True))
    target = pretrain_dataset(dataset, config, out, Path(args.log_dir) if args.log_dir else out / "pretrain",
                              data, runtime.progress)
    print(f"unified feature: {target}")
    return 0
