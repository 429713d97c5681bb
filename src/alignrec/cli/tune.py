"""``alignrec tune``: validation-only hyper-parameter search (Optuna), then one test read for the winner."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignrec.cli.common import add_runtime_args, print_json, runtime_options
from alignrec.cli.train import add_run_config_args, build_config
from alignrec.config import load_config_file

EXAMPLES = """examples:
  alignrec tune ../shared/data/amazon-scientific --model freedom --trials 8 --out tuning/sci-freedom \\
      --storage tuning/sci-freedom.sqlite --set train.lr_decay=1 --min-epochs 50
  alignrec tune ../shared/data/amazon-scientific --model alignrec --sampler grid --space space.toml --out tuning/x
  alignrec train --config tuning/sci-freedom/best_config.json --run-dir runs/sci-freedom-tuned
A space file maps config paths to candidate values, e.g. {"params.align_weight": [0.001, 0.01], "train.lr": [0.001]}.
Run the same command in several shells with one --storage to share the study; an interrupted search resumes.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="hyper-parameter search on the validation split", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_config_args(p)
    s = p.add_argument_group("search")
    s.add_argument("--out", required=True, help="folder for best_config.json, trials.md/.csv, tune.json, winner/")
    s.add_argument("--trials", type=int, default=20,
                   help="configurations trained at most; repeats do not count (default 20)")
    s.add_argument("--sampler", default="tpe", choices=["tpe", "grid", "random"])
    s.add_argument("--space", help="JSON or TOML {path: [values]} replacing the model's declared grid")
    s.add_argument("--storage", help="SQLite file of the study (default: in memory, no resume)")
    s.add_argument("--study", help="study name (default: MODEL-DATASET)")
    s.add_argument("--warmup-epochs", type=int, default=50, help="no pruning before this epoch (default 50)")
    s.add_argument("--no-prune", action="store_true")
    s.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alignrec.runs.tune import TuneConfig, tune

    config = build_config(args)
    cfg = TuneConfig(trials=args.trials, sampler=args.sampler, prune=not args.no_prune,
                     warmup_epochs=args.warmup_epochs, storage=args.storage, study=args.study, timeout_s=args.timeout)
    space = load_config_file(args.space) if args.space else None
    summary = tune(config, cfg, args.out, space, runtime_options(args))
    print((Path(args.out) / "trials.md").read_text())
    print_json({k: summary[k] for k in ("best_params", "best_trial_valid", "trials", "winner")})
    return 0
