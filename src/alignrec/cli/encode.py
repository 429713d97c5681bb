"""``alignrec encode``: raw item text / images to ``<name>_feat.npy`` files (cached per item, resumable)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from alignrec.cli.common import add_data_args, data_config, print_json
from alignrec.content.build import derive_folder, encode_content
from alignrec.content.importers import content_for_dataset
from alignrec.content.registry import ENCODERS
from alignrec.data import load_dataset

EXAMPLES = """examples:
  alignrec encode ../shared/data/movielens-100k-posters --out derived/ml100k \\
      --text minilm --image efficientnet-lite0 --image-dir ../shared/data/movielens-100k-posters/posters
  alignrec encode data/my-items --out data/my-items --text sentence-transformers:/models/my-st-model
encoders: """ + ", ".join(sorted(ENCODERS))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encode", help="encode raw item text and images into feature files", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--out", required=True,
                   help="folder for the features; a folder other than DATA becomes a derived dataset folder "
                        "(links to DATA's files, no copies)")
    p.add_argument("--text", help="text encoder spec, e.g. minilm or sentence-transformers:FOLDER")
    p.add_argument("--image", help="image encoder spec, e.g. efficientnet-lite0, timm:NAME:WEIGHTS")
    p.add_argument("--image-dir", help="image folder (default: the folder's item_images.tsv)")
    p.add_argument("--image-pattern", default="{item_id}.jpg", help="file name in --image-dir ({item_id}, {index})")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cache", help="per-item encoding cache (default: OUT/.encode-cache)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    encoders = {k: v for k, v in (("text", args.text), ("image", args.image)) if v}
    if not encoders:
        raise SystemExit("give --text and/or --image")
    out = Path(args.out)
    if out.resolve() != Path(args.data).resolve():
        derive_folder(args.data, out, skip_features=("unified", *encoders))
    dataset = load_dataset(dataclasses.replace(data_config(args), features=[]), use_cache=False)
    content = content_for_dataset(dataset, args.data, args.image_dir, args.image_pattern)
    cache = Path(args.cache) if args.cache else out / ".encode-cache"
    report = encode_content(content, out, encoders, cache, args.batch_size, not args.no_progress)
    print_json(report)
    return 0
