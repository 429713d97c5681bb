"""``alignrec train``: train one model on one dataset and write a run directory."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alignrec.cli.common import (
    add_config_args,
    add_data_args,
    add_runtime_args,
    config_tree,
    data_section,
    metrics_table,
    runtime_options,
)
from alignrec.errors import ConfigError
from alignrec.models import available_models
from alignrec.runs import RunConfig, train

EXAMPLES = """examples:
  alignrec train ../shared/data/amazon-scientific --model lightgcn
  alignrec train ../shared/data/amazon-scientific --model alignrec --param align_weight=0.01 --param sim_weight=0.1
  alignrec train ../shared/data/movielens-100k-posters --rating-threshold 4 --split random --model bpr
  alignrec train --config runs/old/config.json --run-dir runs/again --set train.seed=7
  alignrec train ../shared/data/amazon-scientific --run-dir runs/sci --resume   # continue a stopped run
"""

# flag dest -> TrainConfig field
TRAIN_FLAGS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "patience": "patience",
               "min_epochs": "min_epochs", "valid_metric": "valid_metric", "seed": "seed"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and evaluate it", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)
    add_run_config_args(p)
    add_runtime_args(p)
    r = p.add_argument_group("run directory")
    r.add_argument("--run-dir", help="default: runs/<dataset>-<model>-<time>")
    r.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --run-dir")


def add_run_config_args(p: argparse.ArgumentParser) -> None:
    """The flags that build a :class:`RunConfig` (data, model, parameters, training), shared with ``tune``."""
    add_data_args(p, required=False)
    add_config_args(p)
    p.add_argument("--model", choices=available_models(), help="default alignrec")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="model parameter, repeatable (see 'alignrec models'); the same as --set params.NAME=VALUE")
    t = p.add_argument_group("training (defaults: see TrainConfig)")
    t.add_argument("--epochs", type=int, help="at most this many epochs (default 1000)")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--patience", type=int, help="stop after this many epochs without validation gain (default 20)")
    t.add_argument("--min-epochs", type=int, help="never stop before this many epochs (default 50)")
    t.add_argument("--valid-metric", help="early-stopping metric on the validation split (default recall@20)")
    t.add_argument("--seed", type=int)


def build_config(args: argparse.Namespace) -> RunConfig:
    if args.data is None and args.config is None:
        raise ConfigError("give a dataset folder (DATA) or --config FILE")
    train_flags = {field: getattr(args, dest) for dest, field in TRAIN_FLAGS.items() if getattr(args, dest) is not None}
    tree = config_tree(args, {"data": data_section(args), "model": args.model, "train": train_flags},
                       params=args.param)
    return RunConfig.from_dict(tree, args.config or "command line")


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / (
        f"{Path(config.data.path).name}-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    result = train(config, run_dir=run_dir, resume=args.resume, overwrite=args.overwrite,
                   runtime=runtime_options(args))
    if result.run_dir is None:  # a process other than 0 of a torchrun launch: process 0 reports
        return 0
    print(f"run directory: {run_dir}")
    if (run_dir / "export").is_dir():
        print(f"serving export: {run_dir / 'export'} (alignrec serve {run_dir})")
    print(f"best validation epoch: {result.best_epoch}")
    columns = [f"{m}@{k}" for m in ("recall", "ndcg", "precision", "map", "hit") for k in (10, 20)]
    print(metrics_table({"valid": result.valid, "test": result.test}, columns))
    return 0
