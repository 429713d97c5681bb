"""``alignrec run CONFIG``: the whole pipeline (import, encode, pretrain, train, evaluate), cached per step."""

from __future__ import annotations

import argparse
import logging

from alignrec.cli.common import add_runtime_args, print_json, runtime_options
from alignrec.runs.pipeline import PipelineConfig, run_pipeline

EXAMPLES = """example config (JSON, or the same tree in TOML):
  {"workdir": "runs/ml100k-pipeline",
   "data": {"path": "../shared/data/movielens-100k-posters", "split": "random", "rating_threshold": 4},
   "content": {"text": "minilm", "image": "efficientnet-lite0",
               "image_dir": "../shared/data/movielens-100k-posters/posters"},
   "pretrain": {"fusion": "mlp", "recon_weight": 1.0},
   "model": "alignrec", "train": {"epochs": 300, "patience": 20}, "baselines": ["lightgcn"]}
  alignrec run pipeline.json --set train.epochs=50 --set baselines=lightgcn,bpr
see docs/content.md for every section.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="import -> encode -> pretrain -> train -> evaluate from one config",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="pipeline config (JSON or TOML)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override any config field, repeatable")
    add_runtime_args(p)
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = PipelineConfig.load(args.config, args.set)
    summary = run_pipeline(config, runtime_options(args), log=(lambda *_: None) if args.quiet else print)
    print_json({"stage2_test": summary["stage2"]["test"],
                "baselines_test": {name: m["test"] for name, m in summary.get("baselines", {}).items()},
                "zero_shot_test_recall@20": {k: v["test"]["recall@20"] for k, v in summary["zero_shot"].items()}})
    return 0
