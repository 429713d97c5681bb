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
from alignrec.content.build import UNIFIED, derive_folder, pretrain_dataset, pretrain_log_folder
from alignrec.content.pretrain import PretrainConfig
from alignrec.data import is_stage1_feature, load_dataset
from alignrec.data.dataset import FEATURE_SUFFIX
from alignrec.errors import ConfigError
from alignrec.training import configure_cpu

EXAMPLES = """examples:
  alignrec pretrain ../shared/data/amazon-scientific --out derived/sci          # derived folder, no copies
  alignrec pretrain derived/ml100k --out derived/ml100k --set pretrain.fusion=mlp --set pretrain.recon_weight=1
  alignrec pretrain derived/ml100k --out derived/ml100k-cf --collaborative --rating-threshold 4 --split random
  alignrec pretrain derived/sci --out derived/sci --collaborative --name unified_cf   # a second stage-1 feature
  alignrec train derived/sci --model alignrec --param feature=unified
(--set FIELD=VALUE without a section means pretrain.FIELD)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pre-train MMEnc and write unified_feat.npy", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p, required=False)
    p.add_argument("--out", required=True, help="folder for unified_feat.npy (a folder other than DATA becomes "
                                                "a derived dataset folder linking to DATA's files)")
    p.add_argument("--log-dir", help="checkpoint and training log (default: OUT/pretrain, or OUT/pretrain-NAME)")
    p.add_argument("--name", default=UNIFIED,
                   help="feature name: writes NAME_feat.npy (default unified, what AlignRec reads by default; "
                        "unified_<variant> keeps several stage-1 features side by side, e.g. unified_cf)")
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
    if not is_stage1_feature(args.name) or not args.name.replace("_", "").isalnum():
        raise ConfigError(f"--name must be 'unified' or 'unified_<letters/digits>' (a stage-1 feature, which "
                          f"models that read each modality skip), got {args.name!r}")
    data = build_dataclass(DataConfig, tree.get("data", {}), "data")
    if not data.path:
        raise ConfigError("give a dataset folder (DATA) or --config FILE with data.path")
    config = build_dataclass(PretrainConfig, tree.get("pretrain", {}), "pretrain")
    runtime = runtime_options(args)
    configure_cpu(runtime.threads)
    out = Path(args.out)
    if out.resolve() != Path(data.path).resolve():
        derive_folder(data.path, out)
    names = (p.name[: -len(FEATURE_SUFFIX)] for p in Path(data.path).glob(f"*{FEATURE_SUFFIX}"))
    modalities = data.features or sorted(n for n in names if not is_stage1_feature(n))  # stage-1 ones are no input
    dataset = load_dataset(dataclasses.replace(data, features=modalities, keep_filtered_items=True))
    log_dir = Path(args.log_dir) if args.log_dir else out / pretrain_log_folder(args.name)
    target = pretrain_dataset(dataset, config, out, log_dir, data, runtime.progress, name=args.name)
    print(f"unified feature: {target}")
    return 0
