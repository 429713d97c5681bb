"""Readers for interaction files, item tables and feature matrices.

They check the input and raise :class:`~alignrec.errors.DataError` naming the file and line at fault;
they never write anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alignrec.errors import DataError

MMREC_REQUIRED = ("userID", "itemID")
RECBOLE_USER, RECBOLE_ITEM = "user_id", "item_id"


@dataclass
class RawInteractions:
    """Interactions as read from a file, one entry per row, before indexing and splitting.

    ``lines`` holds each row's 1-based line number in ``source`` (the header is line 1).
    """

    source: Path
    users: np.ndarray
    items: np.ndarray
    lines: np.ndarray
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    labels: np.ndarray | None = None
    numeric_ids: bool = False

    def take(self, mask: np.ndarray) -> RawInteractions:
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return RawInteractions(
            self.source, self.users[mask], self.items[mask], self.lines[mask],
            pick(self.ratings), pick(self.timestamps), pick(self.labels), self.numeric_ids,
        )


def _read_table(path: Path, sep: str = "\t") -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[], quoting=3)
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: cannot parse as a tab-separated table ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _numeric_column(frame: pd.DataFrame, column: str, path: Path, integer: bool) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw.where(raw.str.strip() != "", None), errors="coerce")
    bad = values.isna().to_numpy().copy()
    if integer:
        bad |= ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        finite = values.fillna(0).to_numpy(dtype=float)
        bad |= (finite != np.floor(finite)) | (finite < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        kind = "a non-negative integer" if integer else "a number"
        raise DataError(
            f"{path}: line {row + 2}, column {column!r}: {raw.iloc[row]!r} is not {kind} "
            f"({int(bad.sum())} bad row(s) in all)"
        )
    return values.to_numpy(dtype=np.int64 if integer else np.float64)


def _check_interactions(frame: pd.DataFrame, required: tuple[str, ...], path: Path, hint: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the header has {list(frame.columns)} ({hint})")
    if len(frame) == 0:
        raise DataError(f"{path}: has a header but no interactions")


def read_mmrec_interactions(path: Path) -> RawInteractions:
    """Read an MMRec ``.inter`` TSV: ``userID itemID [rating] [timestamp] [x_label]`` with integer IDs."""
    frame = _read_table(path)
    _check_interactions(frame, MMREC_REQUIRED, path, "MMRec format needs 'userID' and 'itemID', tab-separated")
    users = _numeric_column(frame, "userID", path, integer=True)
    items = _numeric_column(frame, "itemID", path, integer=True)
    ratings = _numeric_column(frame, "rating", path, integer=False) if "rating" in frame else None
    stamps = _numeric_column(frame, "timestamp", path, integer=False) if "timestamp" in frame else None
    labels = None
    if "x_label" in frame:
        labels = _numeric_column(frame, "x_label", path, integer=True)
        bad = np.flatnonzero(labels > 2)
        if len(bad):
            raise DataError(f"{path}: line {bad[0] + 2}, column 'x_label': {labels[bad[0]]} is not 0, 1 or 2")
        labels = labels.astype(np.int8)
    lines = np.arange(2, len(frame) + 2)
    return RawInteractions(path, users, items, lines, ratings, stamps, labels, numeric_ids=True)


def read_parquet_interactions(path: Path) -> RawInteractions:
    """Read a Parquet interaction table with MMRec's columns (``userID``, ``itemID`` integers; optional
    ``rating``, ``timestamp``, ``x_label``), column by column into arrays: no Python object per row. Errors name
    the 1-based row (``lines`` holds row numbers here)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow (pip install 'alignrec[tables]')") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged or non-Parquet file
        raise DataError(f"{path}: cannot read as Parquet ({exc})") from exc
    missing = [c for c in MMREC_REQUIRED if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the table has {table.column_names}")
    if table.num_rows == 0:
        raise DataError(f"{path}: has no interactions")

    def column(name: str, integer: bool) -> np.ndarray | None:
        if name not in table.column_names:
            return None
        data = table.column(name)
        if data.null_count:
            row = int(np.flatnonzero(data.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{path}: row {row + 1}, column {name!r} is empty ({data.null_count} empty in all)")
        values = data.to_numpy()
        if integer:
            if not np.issubdtype(values.dtype, np.integer):
                raise DataError(f"{path}: column {name!r} must hold integers, it holds {data.type}")
            bad = np.flatnonzero(values < 0)
            if len(bad):
                raise DataError(f"{path}: row {bad[0] + 1}, column {name!r}: {values[bad[0]]} is negative")
            return values.astype(np.int64, copy=False)
        return values.astype(np.float64, copy=False)

    labels = column("x_label", integer=True)
    if labels is not None:
        bad = np.flatnonzero(labels > 2)
        if len(bad):
            raise DataError(f"{path}: row {bad[0] + 1}, column 'x_label': {labels[bad[0]]} is not 0, 1 or 2")
        labels = labels.astype(np.int8)
    return RawInteractions(path, column("userID", True), column("itemID", True), np.arange(1, table.num_rows + 1),
                           column("rating", False), column("timestamp", False), labels, numeric_ids=True)


def read_recbole_interactions(path: Path) -> RawInteractions:
    """Read a RecBole atomic ``.inter`` file (typed header such as ``user_id:token``)."""
    frame = _read_table(path)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    _check_interactions(frame, (RECBOLE_USER, RECBOLE_ITEM), path,
                        "RecBole format needs 'user_id:token' and 'item_id:token'")
    for column in (RECBOLE_USER, RECBOLE_ITEM):
        empty = np.flatnonzero((frame[column].str.strip() == "").to_numpy())
        if len(empty):
            raise DataError(f"{path}: line {empty[0] + 2}, column {column!r} is empty")
    ratings = _numeric_column(frame, "rating", path, integer=False) if "rating" in frame else None
    stamps = _numeric_column(frame, "timestamp", path, integer=False) if "timestamp" in frame else None
    lines = np.arange(2, len(frame) + 2)
    users = frame[RECBOLE_USER].str.strip().to_numpy(dtype=object)
    items = frame[RECBOLE_ITEM].str.strip().to_numpy(dtype=object)
    return RawInteractions(path, users, items, lines, ratings, stamps, None, numeric_ids=False)


def read_recbole_item_text(path: Path, text_fields: list[str] | None = None) -> dict[str, str]:
    """Map item token -> one text string built from the ``.item`` file's text fields.

    Default fields: every ``token`` / ``token_seq`` column except the id, joined in file order
    (for MovieLens: title, year and genres).
    """
    frame = _read_table(path)
    typed = [c.split(":") for c in frame.columns]
    names = [t[0] for t in typed]
    frame.columns = names
    if RECBOLE_ITEM not in names:
        raise DataError(f"{path}: missing column 'item_id:token'; the header has {names}")
    if text_fields is None:
        text_fields = [t[0] for t in typed if t[0] != RECBOLE_ITEM and len(t) > 1 and t[1] in ("token", "token_seq")]
    unknown = [f for f in text_fields if f not in names]
    if unknown:
        raise DataError(f"{path}: text field(s) {unknown} not in the header {names}")
    parts = [frame[f].str.strip() for f in text_fields]
    text = parts[0] if parts else pd.Series([""] * len(frame))
    for part in parts[1:]:
        text = text.str.cat(part, sep=". ")
    return dict(zip(frame[RECBOLE_ITEM].str.strip(), text.str.strip(". ")))


def read_recbole_item_tokens(path: Path) -> np.ndarray:
    """Item tokens of a RecBole ``.item`` file, in file order."""
    frame = _read_table(path)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    if RECBOLE_ITEM not in frame.columns:
        raise DataError(f"{path}: missing column 'item_id:token'; the header has {list(frame.columns)}")
    return frame[RECBOLE_ITEM].str.strip().to_numpy(dtype=str)


def read_mmrec_item_text(path: Path) -> dict[int, str]:
    """Map itemID -> text from an MMRec-style ``items.tsv`` with columns ``itemID ... text``."""
    frame = _read_table(path)
    if "itemID" not in frame.columns or "text" not in frame.columns:
        raise DataError(f"{path}: needs columns 'itemID' and 'text'; the header has {list(frame.columns)}")
    ids = _numeric_column(frame, "itemID", path, integer=True)
    return dict(zip(ids.tolist(), frame["text"].tolist()))


def load_feature_matrix(path: Path, n_items: int) -> np.ndarray:
    """Load a ``[n_items, d]`` float32 feature matrix and check its shape and values.

    Rows that are entirely zero are read as 'modality missing for this item' by the models.
    """
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (expected a [{n_items}, d] .npy matrix)")
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npy file, it may be truncated ({exc})") from exc
    if matrix.ndim != 2:
        raise DataError(f"{path}: expected a 2-D [n_items, d] matrix, got shape {matrix.shape}")
    if matrix.shape[0] != n_items:
        raise DataError(
            f"{path}: has {matrix.shape[0]} rows but the dataset has {n_items} items "
            f"(row i must hold item i's feature)"
        )
    if not np.issubdtype(matrix.dtype, np.number):
        raise DataError(f"{path}: dtype {matrix.dtype} is not numeric")
    matrix = np.asarray(matrix, dtype=np.float32)
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad_rows):
        shown = ", ".join(str(r) for r in bad_rows[:5]) + ("..." if len(bad_rows) > 5 else "")
        raise DataError(f"{path}: NaN or inf in {len(bad_rows)} row(s) (item rows {shown})")
    return matrix
