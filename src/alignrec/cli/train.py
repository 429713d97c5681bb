"""``alignrec train``: train one model on one dataset and write a run directory."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alignrec.cli.common import add_data_args, data_config, metrics_table
from alignrec.config import RunConfig, TrainConfig, parse_assignments
from alignrec.models import available_models
from alignrec.training import train

EXAMPLES = """examples:
  alignrec train ../shared/data/amazon-scientific --model lightgcn
  alignrec train ../shared/data/amazon-scientific --model alignrec --param align_weight=0.01 --param sim_weight=0.1
  alignrec train ../shared/data/movielens-100k-posters --rating-threshold 4 --split random --model bpr
  alignrec train --config runs/old/config.json --run-dir runs/again
  alignrec train ../shared/data/amazon-scientific --run-dir runs/sci --resume   # continue a stopped run
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and evaluate it", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.set_defaults(func=run)
    p.add_argument("--config", help="a config.json (e.g. from another run); other flags are ignored")
    p.add_argument("--model", default="alignrec", choices=available_models())
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="model parameter, repeatable (see 'alignrec models')")
    t = p.add_argument_group("training")
    defaults = TrainConfig()
    t.add_argument("--epochs", type=int, default=defaults.epochs)
    t.add_argument("--batch-size", type=int, default=defaults.batch_size)
    t.add_argument("--lr", type=float, default=defaults.lr)
    t.add_argument("--patience", type=int, default=defaults.patience,
                   help="stop after this many epochs without validation gain")
    t.add_argument("--min-epochs", type=int, default=defaults.min_epochs,
                   help="never stop before this many epochs")
    t.add_argument("--valid-metric", default=defaults.valid_metric)
    t.add_argument("--seed", type=int, default=defaults.seed)
    t.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--no-progress", action="store_true")
    r = p.add_argument_group("run directory")
    r.add_argument("--run-dir", help="default: runs/<dataset>-<model>-<time>")
    r.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --run-dir")


def build_config(args: argparse.Namespace) -> RunConfig:
    if args.config:
        return RunConfig.load(args.config)
    train_cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                            min_epochs=args.min_epochs, valid_metric=args.valid_metric, seed=args.seed,
                            threads=args.threads, device=args.device, progress=not args.no_progress)
    return RunConfig(data=data_config(args), model=args.model, params=parse_assignments(args.param), train=train_cfg)


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    run_dir = Path(args.run_dir) if args.run_dir else Path("runs") / (
        f"{Path(config.data.path).name}-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    result = train(config, run_dir=run_dir, resume=args.resume, overwrite=args.overwrite)
    print(f"run directory: {run_dir}")
    print(f"best validation epoch: {result.best_epoch}")
    columns = [f"{m}@{k}" for m in ("recall", "ndcg", "precision", "map", "hit") for k in (10, 20)]
    print(metrics_table({"valid": result.valid, "test": result.test}, columns))
    return 0
