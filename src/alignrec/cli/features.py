"""``alignrec features evaluate``: judge feature matrices before training (zero-shot, item-CF, mask-modality)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from alignrec.cli.common import print_json
from alignrec.config import DataConfig
from alignrec.data.readers import load_feature_matrix
from alignrec.errors import DataError

EXAMPLES = """examples:
  alignrec features evaluate ../shared/data/amazon-scientific
  alignrec features evaluate ../shared/data/amazon-scientific --unified unified.npy --run runs/sci-alignrec
  alignrec features evaluate ../shared/data/movielens-100k-posters --rating-threshold 4 --split random \\
      --features /tmp/ml-text.npy
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="feature-matrix tools")
    inner = p.add_subparsers(dest="features_command", metavar="SUBCOMMAND", required=True)
    e = inner.add_parser("evaluate", help="zero-shot, item-CF and mask-modality metrics of feature matrices",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("data", help="dataset folder")
    e.add_argument("--features", nargs="+", default=[], metavar="NAME|FILE",
                   help="modality matrices: dataset feature names to load (NAME), or extra .npy files [n_items, d] "
                        "(FILE; named by the file stem without _feat) that are judged and masked like the others")
    e.add_argument("--unified", nargs="+", default=[], metavar="FILE",
                   help="learned unified .npy matrices to judge; they cannot be re-derived from masked "
                        "modalities, so their mask cells are n/a")
    e.add_argument("--run", action="append", default=[], metavar="RUN_DIR",
                   help="a trained run whose metrics under masking are reported too (repeatable)")
    e.add_argument("--split", default="auto", choices=["auto", "labels", "random", "time"])
    e.add_argument("--rating-threshold", type=float)
    e.add_argument("--k-core", type=int, default=0)
    e.add_argument("--data-seed", type=int, default=2024)
    e.add_argument("--cache-dir")
    e.add_argument("-k", "--topk", type=int, nargs="+", default=[10, 20])
    e.add_argument("--knn-k", type=int, default=50, help="item-CF neighbours per item")
    e.add_argument("--shrink", type=float, default=10.0, help="item-CF shrink term")
    e.add_argument("--mask-fraction", type=float, default=0.5)
    e.add_argument("--seed", type=int, default=2024, help="seed of the masked items")
    e.add_argument("--part", default="test", choices=["valid", "test"])
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run_evaluate)


def split_feature_args(values: list[str]) -> tuple[list[str] | None, dict[str, Path]]:
    """Names of dataset features to load, and extra files by name (file stem)."""
    names = [v for v in values if not v.endswith(".npy")]
    files = {Path(v).stem.removesuffix("_feat"): Path(v) for v in values if v.endswith(".npy")}
    return (names or None), files


def load_extra(files: dict[str, Path], n_items: int) -> dict[str, np.ndarray]:
    for path in files.values():
        if not path.is_file():
            raise DataError(f"{path}: feature file not found")
    return {name: load_feature_matrix(path, n_items) for name, path in files.items()}


def run_evaluate(args: argparse.Namespace) -> int:
    from alignrec.data import load_dataset
    from alignrec.evaluation.feature_table import FeatureEvalConfig, evaluate_features
    from alignrec.reporting.markdown import feature_metrics_table
    from alignrec.runs.masked import masked_run_row

    names, files = split_feature_args(args.features)
    dataset = load_dataset(DataConfig(path=args.data, split=args.split, rating_threshold=args.rating_threshold,
                                      k_core=args.k_core, seed=args.data_seed, features=names,
                                      cache_dir=args.cache_dir))
    dataset.features.update(load_extra(files, dataset.n_items))
    extra = load_extra({Path(f).stem: Path(f) for f in args.unified}, dataset.n_items)
    if not dataset.features and not extra:
        raise DataError(f"{args.data}: no feature matrices; give --features FILE.npy")
    cfg = FeatureEvalConfig(ks=sorted(set(args.topk)), knn_k=args.knn_k, shrink=args.shrink,
                            mask_fraction=args.mask_fraction, seed=args.seed, part=args.part)
    result = evaluate_features(dataset, cfg, extra)
    result["rows"] += [masked_run_row(run_dir, dataset, cfg, list(result["masked_items"])) for run_dir in args.run]
    if args.json:
        print_json(result)
        return 0
    masked = ", ".join(f"{m}: {n} items" for m, n in result["masked_items"].items())
    print(f"{dataset.name} ({args.part} split; masked {masked})\n")
    print(feature_metrics_table(result))
    return 0
