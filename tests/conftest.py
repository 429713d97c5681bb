"""Shared fixtures: paths to the real datasets and small hand-made dataset folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SCI = SHARED / "amazon-scientific"
ML = SHARED / "movielens-100k-posters"


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


def requires_shared(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests read the real datasets from ../shared/data")


os.environ.setdefault("HF_HUB_OFFLINE", "1")
