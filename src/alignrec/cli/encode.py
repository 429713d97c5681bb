"""``alignrec encode``: raw item text / images to ``<name>_feat.npy`` files (cached per item, resumable)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from alignrec.cli.common import (
    add_config_args,
    add_data_args,
    add_runtime_args,
    config_tree,
    data_section,
    print_json,
    runtime_options,
)
from alignrec.config import DataConfig, build_dataclass
from alignrec.content.build import ContentConfig, derive_folder, encode_content
from alignrec.content.importers import content_for_dataset
from alignrec.content.registry import ENCODERS
from alignrec.data import load_dataset
from alignrec.errors import ConfigError
from alignrec.training import configure_cpu

EXAMPLES = """examples:
  alignrec encode ../shared/data/movielens-100k-posters --out derived/ml100k \\
      --text minilm --image efficientnet-lite0 --image-dir ../shared/data/movielens-100k-posters/posters
  alignrec encode data/my-items --out data/my-items --text sentence-transformers:/models/my-st-model
encoders: """ + ", ".join(sorted(ENCODERS))

# flag dest -> ContentConfig field
CONTENT_FLAGS = {"text": "text", "image": "image", "image_dir": "image_dir", "image_pattern": "image_pattern",
                 "batch_size": "batch_size", "cache": "cache_dir"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help="encode raw item text and images into feature files", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p, required=False)
    p.add_argument("--out", required=True,
                   help="folder for the features; a folder other than DATA becomes a derived dataset folder "
                        "(links to DATA's files, no copies)")
    c = p.add_argument_group("content (the 'content' section of a config)")
    c.add_argument("--text", help="text encoder spec, e.g. minilm or sentence-transformers:FOLDER")
    c.add_argument("--image", help="image encoder spec, e.g. efficientnet-lite0, timm:NAME:WEIGHTS")
    c.add_argument("--image-dir", help="image folder (default: the folder's item_images.tsv)")
    c.add_argument("--image-pattern", help="file name in --image-dir ({item_id}, {index}; default {item_id}.jpg)")
    c.add_argument("--batch-size", type=int, help="default 32")
    c.add_argument("--cache", help="per-item encoding cache (default: OUT/.encode-cache)")
    c.add_argument("--all-items", action="store_true",
                   help="encode every item of the catalogue (default: only items the data filters keep)")
    add_config_args(p)
    add_runtime_args(p, device=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    flags = {field: getattr(args, dest) for dest, field in CONTENT_FLAGS.items() if getattr(args, dest) is not None}
    tree = config_tree(args, {"data": data_section(args), "content": flags}, "content.")
    data = build_dataclass(DataConfig, tree.get("data", {}), "data")
    content = build_dataclass(ContentConfig, tree.get("content", {}), "content")
    if not data.path:
        raise ConfigError("give a dataset folder (DATA) or --config FILE with data.path")
    encoders = content.encoders()
    if not encoders:
        raise ConfigError("give --text and/or --image (or content.text / content.image)")
    configure_cpu(runtime_options(args).threads)
    out = Path(args.out)
    if out.resolve() != Path(data.path).resolve():
        derive_folder(data.path, out, skip_features=("unified", *encoders))
    dataset = load_dataset(dataclasses.replace(data, features=[], keep_filtered_items=True), use_cache=False)
    items = content_for_dataset(dataset, data.path, content.image_dir, content.image_pattern)
    if not args.all_items:
        items = items.only(dataset.used_items())
    cache = Path(content.cache_dir) if content.cache_dir else out / ".encode-cache"
    report = encode_content(items, out, encoders, cache, content.batch_size, not args.no_progress)
    print_json(report)
    return 0
