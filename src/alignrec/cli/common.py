"""Argument groups shared by the commands, and the one way they become a config tree.

Every command that takes a config builds the same tree the config files use (``data``, ``model``, ``params``,
``train``, ``pretrain``, ...): a ``--config`` file (JSON or TOML) if given, then the flags that were actually
given (``--epochs 5`` is ``train.epochs=5``), then ``--set section.field=value`` overrides, in that order.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from alignrec.config import DataConfig, RuntimeOptions, apply_overrides, build_dataclass, load_config_file
from alignrec.errors import ConfigError
from alignrec.tables import fmt, table

# flag dest -> DataConfig field
DATA_FLAGS = {"data": "path", "format": "format", "split": "split", "rating_threshold": "rating_threshold",
              "k_core": "k_core", "cold_item_fraction": "cold_item_fraction", "data_seed": "seed",
              "random_rounding": "random_rounding", "features": "features", "cache_dir": "cache_dir",
              "allow_split_mismatch": "allow_split_mismatch", "keep_duplicates": "keep_duplicates"}


def add_data_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_argument_group("data (defaults: see DataConfig)")
    group.add_argument("data", nargs=None if required else "?",
                       help="dataset folder (MMRec .inter + *_feat.npy, or RecBole .inter/.item/.user)")
    group.add_argument("--format", choices=["auto", "mmrec", "recbole", "parquet"])
    group.add_argument("--split", choices=["auto", "labels", "random", "time"],
                       help="labels: the file's x_label; random: 8:1:1 per user; time: leave-last-two-out "
                            "(default: labels when present, else random)")
    group.add_argument("--rating-threshold", type=float, help="keep interactions with rating >= this")
    group.add_argument("--k-core", type=int, help="iterative k-core filter (default 0: off)")
    group.add_argument("--cold-item-fraction", type=float,
                       help="hold out this fraction of items from training entirely (cold-start evaluation)")
    group.add_argument("--data-seed", type=int, help="seed of the random split (default 2024)")
    group.add_argument("--random-rounding", choices=["floor", "mmrec"],
                       help="how the random split divides a user's interactions (default floor; mmrec: the MMRec "
                            "toolbox's rule)")
    group.add_argument("--features", nargs="+", help="feature names to load (NAME for NAME_feat.npy; default all)")
    group.add_argument("--cache-dir", help="processed-dataset cache (default: $ALIGNREC_CACHE or ~/.cache/alignrec)")
    group.add_argument("--keep-duplicates", action="store_true", default=None,
                       help="keep repeated (user, item) rows as the MMRec toolbox does (default: keep the first only)")
    group.add_argument("--allow-split-mismatch", action="store_true", default=None,
                       help="accept learned features pre-trained on another split (refused by default: leakage)")


def data_section(args: argparse.Namespace) -> dict[str, Any]:
    """The data fields given on the command line."""
    return {field: getattr(args, dest) for dest, field in DATA_FLAGS.items() if getattr(args, dest, None) is not None}


def data_config(args: argparse.Namespace) -> DataConfig:
    """The :class:`DataConfig` of a command that takes only data flags."""
    return build_dataclass(DataConfig, data_section(args), "data")  # type: ignore[no-any-return]


def add_config_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("config")
    group.add_argument("--config", help="a config file (JSON or TOML), e.g. a run's config.json; flags and --set "
                                        "override it")
    group.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="set any config field, repeatable (e.g. --set train.lr=0.005 --set data.k_core=5)")


def add_runtime_args(parser: argparse.ArgumentParser, device: bool = True) -> None:
    group = parser.add_argument_group("run-time (not part of the experiment's config)")
    group.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    if device:
        group.add_argument("--device", default="auto", help="auto, cpu or cuda")
    group.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    return RuntimeOptions(progress=not args.no_progress, threads=args.threads, device=getattr(args, "device", "auto"))


def config_tree(args: argparse.Namespace, sections: dict[str, Any], set_prefix: str = "",
                params: list[str] | None = None) -> dict[str, Any]:
    """``--config`` file, then the given flags (``sections``), then ``params`` (``NAME=VALUE`` for
    ``params.NAME``), then ``--set`` overrides (``set_prefix``, e.g. ``pretrain.``, is put before a bare
    ``FIELD=VALUE``)."""
    tree = load_config_file(args.config) if getattr(args, "config", None) else {}
    for key, value in sections.items():
        if isinstance(value, dict):
            base = tree.get(key, {})
            if not isinstance(base, dict):
                raise ConfigError(f"{args.config}: {key!r} must be a table")
            tree[key] = {**base, **value}
        elif value is not None:
            tree[key] = value
    assignments = getattr(args, "set", []) or []
    if set_prefix:
        assignments = [a if "." in a.split("=", 1)[0] else set_prefix + a for a in assignments]
    return apply_overrides(apply_overrides(tree, params or [], prefix="params."), assignments)


def print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2))


def metrics_table(rows: dict[str, dict[str, float]], columns: list[str]) -> str:
    """Markdown table: one row per name, one column per metric."""
    return table(["", *columns], [[name, *(fmt(m.get(c)) for c in columns)] for name, m in rows.items()])
