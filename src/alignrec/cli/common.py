"""Argument groups shared by several commands."""

from __future__ import annotations

import argparse
import json

from alignrec.config import DataConfig


def add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("data", help="dataset folder (MMRec .inter + *_feat.npy, or RecBole .inter/.item/.user)")
    group.add_argument("--format", default="auto", choices=["auto", "mmrec", "recbole"])
    group.add_argument("--split", default="auto", choices=["auto", "labels", "random", "time"],
                       help="labels: the file's x_label; random: 8:1:1 per user; time: leave-last-two-out "
                            "(default: labels when present, else random)")
    group.add_argument("--rating-threshold", type=float, help="keep interactions with rating >= this")
    group.add_argument("--k-core", type=int, default=0, help="iterative k-core filter (0: off)")
    group.add_argument("--cold-item-fraction", type=float, default=0.0,
                       help="hold out this fraction of items from training entirely (cold-start evaluation)")
    group.add_argument("--data-seed", type=int, default=2024, help="seed of the random split")
    group.add_argument("--features", nargs="+", help="feature names to load (NAME for NAME_feat.npy; default all)")
    group.add_argument("--cache-dir", help="processed-dataset cache (default: $ALIGNREC_CACHE or ~/.cache/alignrec)")


def data_config(args: argparse.Namespace) -> DataConfig:
    return DataConfig(path=args.data, format=args.format, split=args.split, rating_threshold=args.rating_threshold,
                      k_core=args.k_core, seed=args.data_seed, features=args.features, cache_dir=args.cache_dir,
                      cold_item_fraction=args.cold_item_fraction)


def print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2))


def metrics_table(rows: dict[str, dict[str, float]], columns: list[str]) -> str:
    """Markdown table: one row per name, one column per metric."""
    head = "| | " + " | ".join(columns) + " |\n|---" + "|---" * len(columns) + "|\n"
    body = "".join(f"| {name} | " + " | ".join(f"{m.get(c, float('nan')):.4f}" for c in columns) + " |\n"
                   for name, m in rows.items())
    return head + body
