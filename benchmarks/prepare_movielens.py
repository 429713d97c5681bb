"""Make a MovieLens-100K folder with MiniLM text features (title, year, genres) for the benchmarks.

The folder links to the source's files (no copies) and gets ``text_feat.npy`` (all-MiniLM-L6-v2, written
atomically; per-item encodings are cached in ``<alignrec cache>/encode-cache``). Usage::

    python benchmarks/prepare_movielens.py /tmp/alignrec-bench/movielens-100k-text
    python benchmarks/prepare_movielens.py /tmp/ml-text --source ~/.cache/alignrec/movielens-100k/ml-100k
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alignrec.config import DataConfig
from alignrec.content.build import derive_folder, encode_content
from alignrec.content.importers import content_for_dataset
from alignrec.data import load_dataset
from alignrec.data.cache import default_cache_dir

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k-posters"


def prepare(target: Path, source: Path = SOURCE) -> Path:
    folder = derive_folder(source, target, skip_features=("unified", "text"))
    if not (folder / "text_feat.npy").is_file():
        dataset = load_dataset(DataConfig(path=str(folder), features=[]), use_cache=False)
        encode_content(content_for_dataset(dataset, folder), folder, {"text": "minilm"},
                       default_cache_dir() / "encode-cache", progress=False)
    return folder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path)
    parser.add_argument("--source", type=Path, default=SOURCE, help="a folder with ml-100k.inter / .item / .user")
    args = parser.parse_args()
    print(prepare(args.target, args.source))
