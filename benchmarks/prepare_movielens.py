"""Make a MovieLens-100K folder with MiniLM text features (title, year, genres) for the benchmarks.

The interaction files are symlinked from ``../shared/data/movielens-100k-posters``; only
``text_feat.npy`` is written (atomically). Usage::

    python benchmarks/prepare_movielens.py /tmp/alignrec-bench/movielens-100k-text
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from alignrec.quickstart import ensure_text_features

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k-posters"


def prepare(target: Path, source: Path = SOURCE) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user"):
        link = target / name
        if not link.exists():
            os.symlink((source / name).resolve(), link)
    ensure_text_features(target)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    print(prepare(args.target, args.source))
