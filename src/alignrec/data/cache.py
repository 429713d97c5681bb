"""On-disk cache of processed datasets, keyed by the input files and the data config.

A cache entry is ``<key>.npz`` plus ``<key>.json`` (the manifest); both are written atomically, and the
manifest is written last, so an entry without a manifest is ignored.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from alignrec.config import DataConfig
from alignrec.data.dataset import Dataset, build_dataset
from alignrec.errors import DataError
from alignrec.io import atomic_path, file_stamps, fingerprint, read_json, write_json

CACHE_VERSION = 3


def default_cache_dir() -> Path:
    return Path(os.environ.get("ALIGNREC_CACHE", Path.home() / ".cache" / "alignrec"))


def source_stamps(config: DataConfig) -> list[tuple[str, int, int]]:
    """Stamps of every file in the dataset folder: a processed dataset is stale when any of them changes."""
    folder = Path(config.path).resolve()
    if config.removal and not Path(config.removal).is_file():
        raise DataError(f"{config.removal}: removal file not found (data.removal)")
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return file_stamps(files + ([Path(config.removal)] if config.removal else []))


def cache_key(config: DataConfig) -> str:
    return fingerprint(CACHE_VERSION, config.identity(), source_stamps(config))


def load_dataset(config: DataConfig | str, use_cache: bool = True, **overrides: Any) -> Dataset:
    """Load a dataset folder, from the cache when the files and settings are unchanged.

    ``config`` may be a :class:`DataConfig` or a folder path (then ``overrides`` set its fields).
    """
    if not isinstance(config, DataConfig):
        config = DataConfig(path=str(config), **overrides)
    if not use_cache:
        return build_dataset(config)
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    key = cache_key(config)
    manifest_path, arrays_path = cache_dir / f"{key}.json", cache_dir / f"{key}.npz"
    if manifest_path.is_file() and arrays_path.is_file():
        try:
            return _read_entry(manifest_path, arrays_path)
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is rebuilt below
    dataset = build_dataset(config)
    _write_entry(dataset, manifest_path, arrays_path, key, config)
    return dataset


def _write_entry(dataset: Dataset, manifest_path: Path, arrays_path: Path, key: str, config: DataConfig) -> None:
    arrays = {
        "train": dataset.train, "valid": dataset.valid, "test": dataset.test,
        "user_ids": dataset.user_ids.astype(str), "item_ids": dataset.item_ids.astype(str),
        "removed_users": dataset.removed_users, "removed_items": dataset.removed_items,
    }
    for name, matrix in dataset.features.items():
        arrays[f"feature__{name}"] = matrix
    if dataset.item_text is not None:
        arrays["item_text"] = np.asarray(dataset.item_text, dtype=str)
    if dataset.catalogue_rows is not None:
        arrays["catalogue_ids"] = np.asarray(dataset.catalogue_ids).astype(str)
        arrays["catalogue_rows"] = dataset.catalogue_rows
    with atomic_path(arrays_path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    write_json(manifest_path, {
        "version": CACHE_VERSION, "key": key, "name": dataset.name, "n_users": dataset.n_users,
        "n_items": dataset.n_items, "config": dataclasses.asdict(config), "report": dataset.report,
        "stats": dataset.stats(),
    })


def _read_entry(manifest_path: Path, arrays_path: Path) -> Dataset:
    manifest = read_json(manifest_path)
    if manifest.get("version") != CACHE_VERSION:
        raise ValueError("old cache version")
    with np.load(arrays_path, allow_pickle=False) as arrays:
        features = {k[len("feature__"):]: arrays[k] for k in arrays.files if k.startswith("feature__")}
        text = arrays["item_text"].tolist() if "item_text" in arrays.files else None
        return Dataset(
            name=manifest["name"], n_users=manifest["n_users"], n_items=manifest["n_items"],
            train=arrays["train"], valid=arrays["valid"], test=arrays["test"],
            user_ids=arrays["user_ids"], item_ids=arrays["item_ids"], features=features,
            item_text=text, report={**manifest["report"], "from_cache": True},
            removed_users=arrays["removed_users"], removed_items=arrays["removed_items"],
            catalogue_ids=arrays["catalogue_ids"] if "catalogue_ids" in arrays.files else None,
            catalogue_rows=arrays["catalogue_rows"] if "catalogue_rows" in arrays.files else None,
        )
