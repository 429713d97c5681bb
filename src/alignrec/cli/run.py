"""``alignrec run CONFIG``: the whole pipeline (import, encode, pretrain, train, evaluate), cached per step."""

from __future__ import annotations

import argparse
import logging

from alignrec.cli.common import print_json
from alignrec.pipeline import load_pipeline_config, run_pipeline

EXAMPLES = """example config (JSON):
  {"workdir": "runs/ml100k-pipeline",
   "data": {"path": "../shared/data/movielens-100k-posters", "split": "random", "rating_threshold": 4},
   "content": {"text": "minilm", "image": "efficientnet-lite0",
               "image_dir": "../shared/data/movielens-100k-posters/posters"},
   "pretrain": {"fusion": "mlp", "recon_weight": 1.0},
   "model": "alignrec", "train": {"epochs": 300, "patience": 20}, "baselines": ["lightgcn"]}
see docs/content.md for every section.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="encode -> pretrain -> train -> evaluate from one JSON config", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="pipeline config (JSON)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raw = load_pipeline_config(args.config)
    summary = run_pipeline(raw, progress=not args.no_progress, log=(lambda *_: None) if args.quiet else print)
    print_json({"stage2_test": summary["stage2"]["test"],
                "baselines_test": {name: m["test"] for name, m in summary.get("baselines", {}).items()},
                "zero_shot_test_recall@20": {k: v["test"]["recall@20"] for k, v in summary["zero_shot"].items()}})
    return 0
