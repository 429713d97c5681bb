"""Read a run's export (:mod:`alignrec.runs.export`): JSON, NumPy without pickle, Parquet. Nothing else is run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignrec.errors import RunDirError
from alignrec.io import read_json
from alignrec.runs.export import EXPORT, FORMAT, FORMAT_VERSION, MANIFEST


@dataclass
class Bundle:
    """Everything a server needs, in memory. Row ``u`` / ``i`` of every array is user ``u`` / item ``i``."""

    folder: Path
    manifest: dict[str, Any]
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_text: list[str]
    item_image: list[str | None]
    popularity: np.ndarray
    train_indptr: np.ndarray
    train_indices: np.ndarray
    user_embeddings: np.ndarray | None = None
    item_embeddings: np.ndarray | None = None
    scores: np.ndarray | None = None
    item_content: np.ndarray | None = None
    mmenc: dict[str, np.ndarray] | None = None
    removed_users: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    removed_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def history(self, user: int) -> np.ndarray:
        """Training item indices of user index ``user``."""
        return self.train_indices[self.train_indptr[user]:self.train_indptr[user + 1]]


def export_folder(path: str | Path) -> Path:
    """``path`` itself when it holds a manifest (an export folder on its own), else ``path/export``."""
    path = Path(path)
    return path if (path / MANIFEST).is_file() else path / EXPORT


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise RunDirError(f"{folder}: no {MANIFEST}; export the run first: alignrec export RUN_DIR")
    try:
        manifest = read_json(path)
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunDirError(f"{path}: not an alignrec export (format {FORMAT!r} expected)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RunDirError(f"{path}: export format version {manifest.get('format_version')}; this alignrec reads "
                          f"version {FORMAT_VERSION}: export the run again with alignrec export RUN_DIR")
    return manifest


def load_bundle(path: str | Path) -> Bundle:
    """The export in ``path`` (a run directory or an export folder), checked for consistent shapes."""
    folder = export_folder(path)
    manifest = read_manifest(folder)
    files = manifest.get("files", {})

    def array(key: str) -> np.ndarray | None:
        if key not in files:
            return None
        file = folder / files[key]
        try:
            return np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise RunDirError(f"{file}: not a readable .npy file without pickled objects ({exc})") from exc

    def table(key: str, columns: list[str]) -> pd.DataFrame:
        file = folder / files.get(key, f"{key}.parquet")
        try:
            frame = pd.read_parquet(file)
        except (OSError, ValueError, ImportError) as exc:
            raise RunDirError(f"{file}: unreadable Parquet table ({exc})") from exc
        if missing := [c for c in columns if c not in frame.columns]:
            raise RunDirError(f"{file}: missing column(s) {missing}")
        return frame

    items = table("items", ["item_id", "text", "image", "popularity"])
    users = table("users", ["user_id"])
    mmenc_file = folder / files["mmenc"] if "mmenc" in files else None
    mmenc = None
    if mmenc_file is not None:
        with np.load(mmenc_file, allow_pickle=False) as data:
            mmenc = {k: data[k] for k in data.files}
    bundle = Bundle(
        folder=folder, manifest=manifest, user_ids=users["user_id"].astype(str).to_numpy(),
        item_ids=items["item_id"].astype(str).to_numpy(), item_text=items["text"].fillna("").astype(str).tolist(),
        item_image=[p if isinstance(p, str) and p else None for p in items["image"].tolist()],
        popularity=items["popularity"].to_numpy(), train_indptr=_need(array("train_indptr"), "train_indptr"),
        train_indices=_need(array("train_indices"), "train_indices"), user_embeddings=array("user_embeddings"),
        item_embeddings=array("item_embeddings"), scores=array("scores"), item_content=array("item_content"),
        mmenc=mmenc)
    for key in ("removed_users", "removed_items"):
        removed = array(key)
        if removed is not None:
            setattr(bundle, key, removed.astype(np.int64))
    _check_shapes(bundle)
    return bundle


def _need(value: np.ndarray | None, key: str) -> np.ndarray:
    if value is None:
        raise RunDirError(f"the export's manifest lists no {key!r} file")
    return value


def _check_shapes(b: Bundle) -> None:
    n_u, n_i = b.n_users, b.n_items
    expected = {"user_embeddings": (n_u, None), "item_embeddings": (n_i, None), "scores": (n_u, n_i),
                "item_content": (n_i, None)}
    for key, (rows, cols) in expected.items():
        value = getattr(b, key)
        if value is not None and (value.ndim != 2 or value.shape[0] != rows or (cols and value.shape[1] != cols)):
            raise RunDirError(f"{b.folder}: {key} has shape {value.shape}, expected [{rows}, {cols or 'd'}]")
    if len(b.train_indptr) != n_u + 1 or (len(b.train_indices) and b.train_indices.max() >= n_i):
        raise RunDirError(f"{b.folder}: the training history does not match {n_u} users and {n_i} items")
    kind = b.manifest.get("scoring", {}).get("kind")
    if kind == "dot" and (b.user_embeddings is None or b.item_embeddings is None):
        raise RunDirError(f"{b.folder}: scoring 'dot' needs user_embeddings and item_embeddings")
    if kind == "matrix" and b.scores is None:
        raise RunDirError(f"{b.folder}: scoring 'matrix' needs scores.npy")
