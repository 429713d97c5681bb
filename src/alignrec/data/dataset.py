"""The :class:`Dataset` every model and evaluator consumes, and :func:`load_dataset` that builds it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from alignrec.config import DataConfig
from alignrec.data import readers
from alignrec.data.cold_start import cold_item_split
from alignrec.data.removal import Removal, keep_mask
from alignrec.data.sequences import chronological_order, leave_one_out_labels
from alignrec.data.split import (
    TEST,
    TRAIN,
    VALID,
    first_occurrence_mask,
    k_core_mask,
    random_split,
    time_split,
)
from alignrec.errors import DataError, DataWarning
from alignrec.io import array_fingerprint, read_json

FEATURE_SUFFIX = "_feat.npy"
CARD_SUFFIX = "_feat.json"  # beside a learned feature: how it was made (e.g. the split its pre-training read)
SPLIT_SETTINGS = ("split", "seed", "rating_threshold", "k_core", "cold_item_fraction", "random_rounding")


def is_stage1_feature(name: str) -> bool:
    """A stage-1 (pre-trained, unified) feature rather than a modality: ``unified`` or ``unified_<variant>``
    (e.g. ``unified_cf``, pre-trained with collaborative positives). Models that read each modality skip them."""
    return name == "unified" or name.startswith("unified_")


@dataclass
class Dataset:
    """Indexed interactions split into train / valid / test, plus item content.

    ``train``, ``valid`` and ``test`` are ``int64 [n, 2]`` arrays of ``(user, item)`` indices (with the split
    ``leave_one_out`` of the sequential track, in chronological order: see :mod:`alignrec.data.sequences`);
    ``user_ids[u]`` / ``item_ids[i]`` give the raw IDs of index ``u`` / ``i``.
    ``features[name]`` is a ``float32 [n_items, d]`` matrix; an all-zero row means the modality is missing.
    ``removed_users`` / ``removed_items`` (indices) were taken out by a removal request
    (:mod:`alignrec.data.removal`): they keep their index but have no interactions, and removed items are
    never ranked.
    ``catalogue_ids`` / ``catalogue_rows``: set when k-core filtering dropped items from the index (see
    ``DataConfig.keep_filtered_items``): the raw IDs of the folder's whole catalogue, whose rows the feature files
    follow, and the catalogue row of each item here.
    """

    name: str
    n_users: int
    n_items: int
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)
    item_text: list[str] | None = None
    report: dict[str, Any] = field(default_factory=dict)
    removed_users: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    removed_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    catalogue_ids: np.ndarray | None = None
    catalogue_rows: np.ndarray | None = None

    def matrix(self, part: str = "train") -> sp.csr_matrix:
        """Binary ``[n_users, n_items]`` CSR matrix of one split."""
        pairs = getattr(self, part)
        data = np.ones(len(pairs), dtype=np.float32)
        return sp.csr_matrix((data, (pairs[:, 0], pairs[:, 1])), shape=(self.n_users, self.n_items))

    def user_index(self, raw_id: str | int) -> int:
        """Index of a raw user ID, or a clear error if the dataset has no such user."""
        hits = np.flatnonzero(self.user_ids.astype(str) == str(raw_id))
        if not len(hits) or np.isin(hits[0], self.removed_users):
            gone = " (removed by a forget request)" if len(hits) else ""
            raise DataError(f"user {raw_id!r} is not in dataset {self.name!r}{gone}")
        return int(hits[0])

    def used_items(self) -> np.ndarray:
        """Indices of the items with at least one interaction in any split (what the data filters kept)."""
        return np.unique(np.concatenate([self.train[:, 1], self.valid[:, 1], self.test[:, 1]]))

    def item_popularity(self) -> np.ndarray:
        """Training interactions per item, ``int64 [n_items]``."""
        return np.bincount(self.train[:, 1], minlength=self.n_items)

    def unified_feature(self, name: str | None = None) -> np.ndarray:
        """One ``[n_items, d]`` content matrix for the models.

        ``name`` picks a modality; ``None`` uses ``"unified"`` when present, else the row-wise
        concatenation of the L2-normalised modality features (missing rows stay zero; stage-1 features, see
        :func:`is_stage1_feature`, are not modalities).
        """
        if not self.features:
            raise DataError(f"dataset {self.name!r} has no item features; give *_feat.npy files or encode content")
        if name is not None:
            if name not in self.features:
                raise DataError(f"dataset {self.name!r} has no feature {name!r}; it has {sorted(self.features)}")
            return self.features[name]
        if "unified" in self.features:
            return self.features["unified"]
        return concat_normalised([self.features[k] for k in sorted(self.features) if not is_stage1_feature(k)])

    def split_fingerprint(self) -> str:
        """A hash of which (user, item) pairs are in train, valid and test: equal exactly when two loads put the
        same interactions in the same splits, whatever folder, seed or filter produced them. Items are counted by
        their catalogue row, so a load that dropped filtered items from the index has the same fingerprint."""
        if self.catalogue_rows is None:
            return array_fingerprint(self.user_ids.astype(str), self.item_ids.astype(str), self.train, self.valid,
                                     self.test)
        rows = self.catalogue_rows

        def in_catalogue(pairs: np.ndarray) -> np.ndarray:
            return np.stack([pairs[:, 0], rows[pairs[:, 1]]], axis=1) if len(pairs) else pairs

        return array_fingerprint(self.user_ids.astype(str), np.asarray(self.catalogue_ids).astype(str),
                                 in_catalogue(self.train), in_catalogue(self.valid), in_catalogue(self.test))

    def split_card(self, config: DataConfig) -> dict[str, Any]:
        """The split's fingerprint and the settings that made it, for records of work that read the split."""
        return {"fingerprint": self.split_fingerprint(), "dataset": self.name,
                **{k: v for k, v in config.identity().items() if k in SPLIT_SETTINGS}}

    def stats(self) -> dict[str, Any]:
        n_inter = len(self.train) + len(self.valid) + len(self.test)
        per_user = np.bincount(self.train[:, 0], minlength=self.n_users)
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": n_inter,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
            "density": n_inter / max(1, self.n_users * self.n_items),
            "train_per_user_median": float(np.median(per_user)) if self.n_users else 0.0,
            "items_without_train_interactions": int((self.item_popularity() == 0).sum()),
            "features": {k: list(v.shape) for k, v in self.features.items()},
            "has_item_text": self.item_text is not None,
        }


class SealedSplit:
    """Stands in for a split that must not be read (the test split during a hyper-parameter search): any use of
    it raises :class:`DataError`, so a leak fails loudly instead of quietly informing the search."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise DataError(f"the test split is sealed {self.reason}; it is read once, for the chosen model")

    __len__ = __getitem__ = __array__ = __iter__ = _refuse  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        return self._refuse()


def sealed_test(dataset: Dataset, reason: str) -> Dataset:
    """A shallow copy of ``dataset`` whose test split cannot be read (:class:`SealedSplit`)."""
    return replace(dataset, test=SealedSplit(reason))  # type: ignore[arg-type]


def l2_normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, ``float32``; all-zero rows (missing content) stay zero."""
    x = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def concat_normalised(mats: list[np.ndarray]) -> np.ndarray:
    """Row-wise concatenation of L2-normalised matrices (zero rows stay zero)."""
    return np.concatenate([l2_normalise(m) for m in mats], axis=1)


PARQUET_SUFFIX = ".inter.parquet"


def detect_format(folder: Path) -> str:
    path = interaction_file(folder)
    if path.name.endswith(PARQUET_SUFFIX):
        return "parquet"
    header = path.open(encoding="utf-8", errors="replace").readline()
    return "recbole" if ":" in header else "mmrec"


def interaction_file(folder: Path) -> Path:
    """The folder's one interaction file: ``NAME.inter`` (MMRec or RecBole TSV) or ``NAME.inter.parquet``."""
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder not found")
    files = sorted(folder.glob("*.inter")) + sorted(folder.glob(f"*{PARQUET_SUFFIX}"))
    if not files:
        raise DataError(f"{folder}: no .inter (or {PARQUET_SUFFIX}) file found")
    if len(files) > 1:
        raise DataError(f"{folder}: several interaction files {[p.name for p in files]}; keep one per folder")
    return files[0]


def interaction_stem(path: Path) -> str:
    """``ml-100k`` for ``ml-100k.inter`` and for ``ml-100k.inter.parquet``."""
    return path.name[: -len(PARQUET_SUFFIX)] if path.name.endswith(PARQUET_SUFFIX) else path.stem


def build_dataset(config: DataConfig) -> Dataset:
    """Read, validate, filter, index and split a dataset folder (no cache; see :func:`load_dataset`)."""
    folder = Path(config.path)
    inter_path = interaction_file(folder)
    fmt = detect_format(folder) if config.format == "auto" else config.format
    read = {"mmrec": readers.read_mmrec_interactions, "recbole": readers.read_recbole_interactions,
            "parquet": readers.read_parquet_interactions}[fmt]
    raw = read(inter_path)
    report: dict[str, Any] = {"format": fmt, "rows_read": len(raw.users)}
    # The item catalogue is fixed before any filtering, because feature-matrix rows follow it.
    item_ids, items = _index_items(raw, folder)
    n_items = len(item_ids)

    if config.rating_threshold is not None:
        if raw.ratings is None:
            raise DataError(f"{inter_path}: rating_threshold is set but the file has no rating column")
        above = raw.ratings >= config.rating_threshold
        report["rows_below_rating_threshold"] = int((~above).sum())
        raw, items = raw.take(above), items[above]
    user_ids, users = np.unique(raw.users.astype(np.int64) if raw.numeric_ids else raw.users.astype(str),
                                return_inverse=True)

    first = first_occurrence_mask(users, items, n_items)
    n_dup = int((~first).sum())
    if config.keep_duplicates:
        report["duplicates_kept"] = n_dup
        first[:] = True
        n_dup = 0
    if n_dup:
        dup_line = int(raw.lines[np.flatnonzero(~first)[0]])
        warnings.warn(f"{inter_path}: {n_dup} duplicate (user, item) row(s) removed, first at line {dup_line}; "
                      "the first occurrence is kept", DataWarning, stacklevel=2)
    report["duplicates_removed"] = n_dup
    keep = first & k_core_mask(users, items, config.k_core)
    report["rows_removed_by_k_core"] = int((first & ~keep).sum())
    users, items, raw = users[keep], items[keep], raw.take(keep)
    if len(users) == 0:
        raise DataError(f"{inter_path}: no interactions left after filtering (rating threshold / k-core)")

    if _resolved_split(config, raw) == "leave_one_out":  # the sequential track: rows in each user's order
        order = chronological_order(len(users), raw.timestamps)
        users, items, raw = users[order], items[order], raw.take(order)
    labels = _split_labels(config, raw, users, inter_path)
    report["split"] = _resolved_split(config, raw)
    if config.cold_item_fraction > 0:
        labels, cold = cold_item_split(items, labels, config.cold_item_fraction, config.seed)
        report["cold_items"] = len(cold)

    train_mask = labels == TRAIN
    if not train_mask.any():
        raise DataError(f"{inter_path}: the train split is empty (no row has x_label 0 / no user has 3+ interactions)")
    seen = np.zeros(len(user_ids), dtype=bool)
    seen[users[train_mask]] = True
    unseen = ~seen[users] & ~train_mask
    for part, label in (("valid", VALID), ("test", TEST)):
        n_drop = int((unseen & (labels == label)).sum())
        report[f"{part}_rows_dropped_unseen_user"] = n_drop
        if n_drop:
            warnings.warn(f"{inter_path}: {n_drop} {part} interaction(s) of users with no training interaction "
                          "were dropped", DataWarning, stacklevel=2)
    keep = ~unseen
    users, items, labels = users[keep], items[keep], labels[keep]

    # Re-number users so that every user has training data.
    kept_users = np.unique(users)
    remap = np.full(len(user_ids), -1, dtype=np.int64)
    remap[kept_users] = np.arange(len(kept_users))
    users, user_ids = remap[users], user_ids[kept_users]

    pairs = np.stack([users, items], axis=1).astype(np.int64)
    dataset = Dataset(
        name=folder.name,
        n_users=len(user_ids),
        n_items=n_items,
        train=pairs[labels == TRAIN],
        valid=pairs[labels == VALID],
        test=pairs[labels == TEST],
        user_ids=user_ids.astype(str),
        item_ids=item_ids.astype(str),
        report=report,
    )
    _attach_content(dataset, folder, fmt, config)
    if config.k_core > 1 and not config.keep_filtered_items:
        _drop_unused_items(dataset)
    if config.removal:
        apply_removal(dataset, Removal.load(config.removal), config.removal)
    return dataset


def without_unused_items(dataset: Dataset) -> Dataset:
    """A copy of ``dataset`` indexed by the items with an interaction in some split only (``catalogue_rows`` then
    maps its items to ``dataset``'s); ``dataset`` itself is left as it is."""
    copy = replace(dataset, features=dict(dataset.features), report=dict(dataset.report))
    _drop_unused_items(copy)
    return copy


def _drop_unused_items(dataset: Dataset) -> None:
    """Re-index ``dataset`` in place to the items with an interaction in some split, so that models and their
    optimisers are sized by what the filters kept, not by the catalogue (Book-Crossing: 13,670 of 341,761)."""
    used = dataset.used_items()
    dataset.report["items_dropped_by_k_core"] = dataset.n_items - len(used)
    if len(used) == dataset.n_items:
        return
    new_index = np.full(dataset.n_items, -1, dtype=np.int64)
    new_index[used] = np.arange(len(used))
    for part in ("train", "valid", "test"):
        pairs = getattr(dataset, part)
        setattr(dataset, part, np.stack([pairs[:, 0], new_index[pairs[:, 1]]], axis=1))
    dataset.catalogue_ids, dataset.catalogue_rows = dataset.item_ids, used
    dataset.item_ids, dataset.n_items = dataset.item_ids[used], len(used)
    dataset.features = {name: np.ascontiguousarray(matrix[used]) for name, matrix in dataset.features.items()}
    if dataset.item_text is not None:
        dataset.item_text = [dataset.item_text[i] for i in used]


def apply_removal(dataset: Dataset, removal: Removal, source: str = "the removal request") -> None:
    """Take ``removal``'s users, items and training pairs out of ``dataset`` in place (see
    :mod:`alignrec.data.removal`); a user left without training data is an error."""
    for name, index, n in (("user", removal.users, dataset.n_users), ("item", removal.items, dataset.n_items)):
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise DataError(f"{source}: {name} index out of range for dataset {dataset.name!r}")
    had_train = np.bincount(dataset.train[:, 0], minlength=dataset.n_users) > 0
    for part in ("train", "valid", "test"):
        pairs = getattr(dataset, part)
        setattr(dataset, part, pairs[keep_mask(pairs, removal, dataset.n_items, drop_pairs=part == "train")])
    left = np.bincount(dataset.train[:, 0], minlength=dataset.n_users) > 0
    stranded = np.flatnonzero(had_train & ~left & ~np.isin(np.arange(dataset.n_users), removal.users))
    if len(stranded):
        raise DataError(f"{source}: {len(stranded)} user(s) would have no training interaction left (first: user "
                        f"{str(dataset.user_ids[stranded[0]])!r}); remove those users too, or fewer of their items")
    for name, matrix in dataset.features.items():
        if len(removal.items):
            matrix = matrix.copy()
            matrix[removal.items] = 0.0  # the item's content is gone: no feature, no content-graph edges
            dataset.features[name] = matrix
    dataset.removed_users, dataset.removed_items = removal.users, removal.items
    dataset.report["removed"] = {"pairs": len(removal.pairs), "users": len(removal.users),
                                 "items": len(removal.items)}


def _index_items(raw: readers.RawInteractions, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue and per-row item index.

    MMRec: item ``i`` is row ``i`` of every feature matrix, so the catalogue is ``0..max(itemID)``.
    RecBole: the order of the ``.item`` file, then items found only in the ``.inter`` file (sorted).
    """
    if raw.numeric_ids:
        n_items = int(raw.items.max()) + 1
        return np.arange(n_items).astype(str), raw.items.astype(np.int64)
    tokens = raw.items.astype(str)
    item_files = sorted(folder.glob("*.item"))
    listed = readers.read_recbole_item_tokens(item_files[0]) if item_files else np.array([], dtype=str)
    extra = np.setdiff1d(np.unique(tokens), listed)
    catalogue = np.concatenate([listed, extra]).astype(str)
    index = pd.Index(catalogue)
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise DataError(f"{item_files[0]}: item_id {dup!r} appears more than once")
    return catalogue, index.get_indexer(tokens).astype(np.int64)


def _resolved_split(config: DataConfig, raw: readers.RawInteractions) -> str:
    if config.split != "auto":
        return config.split
    return "labels" if raw.labels is not None else "random"


def _split_labels(config: DataConfig, raw: readers.RawInteractions, users: np.ndarray, path: Path) -> np.ndarray:
    split = _resolved_split(config, raw)
    if split == "labels":
        if raw.labels is None:
            raise DataError(f"{path}: split 'labels' needs an x_label column")
        return raw.labels
    if split == "leave_one_out":
        return leave_one_out_labels(users, raw.labels, raw.lines, path)
    if split == "time":
        if raw.timestamps is None:
            raise DataError(f"{path}: split 'time' needs a timestamp column")
        return time_split(users, raw.timestamps)
    return random_split(users, config.seed, config.random_rounding)


def _attach_content(dataset: Dataset, folder: Path, fmt: str, config: DataConfig) -> None:
    names = sorted(p.name[: -len(FEATURE_SUFFIX)] for p in folder.glob(f"*{FEATURE_SUFFIX}"))
    if config.features is not None:
        missing = [n for n in config.features if n not in names]
        if missing:
            raise DataError(f"{folder}: feature(s) {missing} not found; available: {names}")
        names = list(config.features)
    for name in names:
        dataset.features[name] = readers.load_feature_matrix(folder / f"{name}{FEATURE_SUFFIX}", dataset.n_items)
        _check_feature_split(dataset, folder / f"{name}{CARD_SUFFIX}", config)
    if fmt in ("mmrec", "parquet") and (folder / "items.tsv").is_file():
        text = readers.read_mmrec_item_text(folder / "items.tsv")
        dataset.item_text = [text.get(i, "") for i in range(dataset.n_items)]
    item_files = sorted(folder.glob("*.item"))
    if fmt == "recbole" and item_files:
        text = readers.read_recbole_item_text(item_files[0], config.text_fields)
        dataset.item_text = [text.get(i, "") for i in dataset.item_ids]


def _check_feature_split(dataset: Dataset, card_path: Path, config: DataConfig) -> None:
    """A feature learned from interactions must come from this very split: otherwise its selection or its
    positives read what are valid / test interactions here (leakage)."""
    if not card_path.is_file():
        return
    try:
        made_on = read_json(card_path).get("split")
    except (OSError, ValueError) as exc:
        raise DataError(f"{card_path}: unreadable feature card ({exc})") from exc
    if not made_on or made_on.get("fingerprint") == dataset.split_fingerprint():
        return
    here = dataset.split_card(config)
    differs = {k: (made_on.get(k), here.get(k)) for k in SPLIT_SETTINGS if made_on.get(k) != here.get(k)}
    message = (f"{card_path.with_name(card_path.name.replace(CARD_SUFFIX, FEATURE_SUFFIX))} was learned from another "
               f"split of the interactions (fingerprint {made_on.get('fingerprint')}, this split "
               f"{here['fingerprint']}; settings that differ, made-on vs here: {differs or 'none, the files differ'}): "
               "its pre-training read interactions that are validation or test here. Pre-train again on this "
               "split, leave the feature out (--features), or accept it with --allow-split-mismatch "
               "(data.allow_split_mismatch; recorded in the run's config)")
    if not config.allow_split_mismatch:
        raise DataError(message)
    warnings.warn(message, DataWarning, stacklevel=3)
    dataset.report.setdefault("split_mismatch_accepted", []).append(str(card_path))
