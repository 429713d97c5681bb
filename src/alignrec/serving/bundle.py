"""Read a run's export (:mod:`alignrec.runs.export`): JSON, NumPy without pickle, Parquet. Nothing else is run.

The whole export is checked before anything is served (:mod:`.export_check`): an error names the file, row or
field at fault, so a corrupt or crafted export never starts a service that fails later."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alignrec.errors import RunDirError
from alignrec.runs.export import EXPORT, FORMAT, FORMAT_VERSION, MANIFEST
from alignrec.runs.rundir import read_object
from alignrec.serving import export_check as check
from alignrec.serving.export_check import IMAGES, image_file


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
    image_names: list[str | None] = field(default_factory=list)  # as items.parquet names them (images/...)
    image_types: list[str | None] = field(default_factory=list)  # media type from each file's first bytes
    encoder_specs: dict[str, str] = field(default_factory=dict)  # with their files resolved inside the export

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def history(self, user: int) -> np.ndarray:
        """Training item indices of user index ``user``."""
        return self.train_indices[self.train_indptr[user]:self.train_indptr[user + 1]]

    def image_file(self, item: int) -> tuple[Path, str] | None:
        """Item ``item``'s image file and media type, checked again now (:func:`.export_check.image_file`), or
        None when it has none."""
        name = self.image_names[item] if self.image_names else None
        if not name:
            return None
        return image_file(self.folder, name, f"{self.folder / IMAGES}: item {self.item_ids[item]!r}'s image")


def export_folder(path: str | Path) -> Path:
    """``path`` itself when it holds a manifest (an export folder on its own), else ``path/export``."""
    path = Path(path)
    return path if (path / MANIFEST).is_file() else path / EXPORT


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise RunDirError(f"{folder}: no {MANIFEST}; export the run first: alignrec export RUN_DIR")
    manifest = read_object(path, "manifest")
    if manifest.get("format") != FORMAT:
        raise RunDirError(f"{path}: not an alignrec export (format {FORMAT!r} expected)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RunDirError(f"{path}: export format version {manifest.get('format_version')}; this alignrec reads "
                          f"version {FORMAT_VERSION}: export the run again with alignrec export RUN_DIR")
    return manifest


def load_bundle(path: str | Path) -> Bundle:
    """The export in ``path`` (a run directory or an export folder), checked whole before it is returned."""
    folder = export_folder(path)
    manifest = read_manifest(folder)
    where = folder / MANIFEST
    check.check_manifest(manifest, where)
    paths = {key: check.export_file(folder, manifest, key, where) for key in manifest["files"]}
    n_u, n_i = manifest["users"], manifest["items"]
    arrays = {key: check.read_npy(file) for key, file in paths.items() if file.suffix == ".npy"}
    indptr, indices = check.check_history(arrays["train_indptr"], arrays["train_indices"], n_u, n_i,
                                          paths["train_indptr"], paths["train_indices"])
    users = check.read_table(paths["users"], ["user_id", "n_train"])
    items = check.read_table(paths["items"], ["item_id", "text", "image", "popularity"])
    user_ids = check.id_column(users, "user_id", n_u, paths["users"])
    item_ids = check.id_column(items, "item_id", n_i, paths["items"])
    check.count_column(users, "n_train", np.diff(indptr), paths["users"], "items of that user")
    popularity = check.count_column(items, "popularity", np.bincount(indices, minlength=n_i), paths["items"],
                                    "interactions with that item")
    none = np.zeros(0, dtype=np.int64)
    removed = {key: check.check_removed(arrays[key], paths[key], n) if key in arrays else none
               for key, n in (("removed_users", n_u), ("removed_items", n_i))}
    scoring, content = manifest["scoring"], manifest["content"]
    shapes = {"user_embeddings": (n_u, scoring.get("dim"), "users, scoring.dim"),
              "item_embeddings": (n_i, scoring.get("dim"), "items, scoring.dim"),
              "scores": (n_u, n_i, "users, items"),
              "item_content": (n_i, (content or {}).get("dim"), "items, content.dim")}
    matrices = {key: check.float_matrix(arrays[key], str(paths[key]), rows, cols, f" ({MANIFEST}: {source})")
                for key, (rows, cols, source) in shapes.items() if key in arrays}
    mmenc = check.check_mmenc(check.read_npz(paths["mmenc"]), content["mmenc"], paths["mmenc"]) \
        if "mmenc" in paths else None
    names = check.text_column(items, "image", paths["items"])
    images, types = check.item_images(folder, names, item_ids, removed["removed_items"], paths["items"])
    texts = check.text_column(items, "text", paths["items"])
    check.check_counts(manifest, removed, images, where)
    return Bundle(
        folder=folder, manifest=manifest, user_ids=user_ids, item_ids=item_ids,
        item_text=[t or "" for t in texts], item_image=images, popularity=popularity, train_indptr=indptr,
        train_indices=indices, **matrices, mmenc=mmenc, removed_users=removed["removed_users"],
        removed_items=removed["removed_items"], image_names=names, image_types=types,
        encoder_specs=check.encoder_specs(folder, content, where))
