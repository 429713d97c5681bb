"""Raw-content import: item text and image paths for a dataset, and conversion of raw tables to a dataset folder.

* :func:`content_for_dataset`: the text and image path of every item of a loaded :class:`Dataset`, in its
  item order (RecBole ``.item`` fields or MMRec ``items.tsv``; images from ``item_images.tsv`` in the folder
  or from an image folder and a file-name pattern such as ``{item_id}.jpg``).
* :func:`import_tables`: a generic items table plus an interactions table (CSV or Parquet) to a RecBole
  folder (``<name>.inter``, ``<name>.item``, ``item_images.tsv``) that :func:`alignrec.load_dataset` reads.
* :func:`import_book_crossing`: the Book-Crossing CSVs (Ziegler et al., "Improving Recommendation Lists
  Through Topic Diversification", WWW 2005) to the same layout.

The formats are documented in ``docs/content.md``.
"""

from __future__ import annotations

import csv
import gzip
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignrec.data.dataset import Dataset
from alignrec.errors import ConfigError, DataError
from alignrec.io import atomic_path, write_json

IMAGES_FILE = "item_images.tsv"
IMPORT_FORMATS = ("tables", "book-crossing")


@dataclass
class ImportConfig:
    """Raw tables to a dataset folder. ``format="tables"``: ``items`` and ``interactions`` files (CSV, TSV or
    Parquet) and the column names (see :func:`import_tables`); ``format="book-crossing"``: the Book-Crossing CSVs
    in the source folder, optionally only the first ``max_ratings`` ratings."""

    format: str = "tables"
    items: str | None = None
    interactions: str | None = None
    item_col: str = "item_id"
    text_cols: list[str] | None = None
    image_col: str | None = None
    user_col: str = "user_id"
    rating_col: str | None = None
    timestamp_col: str | None = None
    image_root: str | None = None
    interaction_item_col: str | None = None
    name: str | None = None
    max_ratings: int | None = None

    def __post_init__(self) -> None:
        if self.format not in IMPORT_FORMATS:
            raise ConfigError(f"import.format must be one of {IMPORT_FORMATS}, got {self.format!r}")
        if self.format == "tables" and not (self.items and self.interactions):
            raise ConfigError("import: format 'tables' needs 'items' and 'interactions' (table files)")

    def input_files(self, source: Path) -> list[Path]:
        """The files the import reads (for up-to-date checks)."""
        if self.format == "book-crossing":
            return sorted(source.glob("BX-*"))
        return [Path(p) for p in (self.items, self.interactions) if p and Path(p).is_file()]


def run_import(config: ImportConfig, source: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Run the import ``config`` describes (Book-Crossing reads ``source``) into ``out_dir``; return its report."""
    if config.format == "book-crossing":
        return import_book_crossing(source, out_dir, config.max_ratings, config.name or "book-crossing")
    return import_tables(config.items, config.interactions, out_dir,  # type: ignore[arg-type]
                         item_col=config.item_col, text_cols=config.text_cols, image_col=config.image_col,
                         user_col=config.user_col, rating_col=config.rating_col, timestamp_col=config.timestamp_col,
                         image_root=config.image_root, name=config.name,
                         interaction_item_col=config.interaction_item_col)


@dataclass
class ItemContent:
    """Per-item raw content in dataset item order: ``texts[i]`` ('' = none), ``images[i]`` (None = none)."""

    item_ids: list[str]
    texts: list[str]
    images: list[Path | None]
    report: dict[str, Any] = field(default_factory=dict)

    def only(self, items: np.ndarray) -> ItemContent:
        """A copy whose items outside ``items`` (indices) have no content, so encoders skip them: content work
        follows the data filters (k-core, rating threshold) instead of the whole catalogue."""
        keep = np.zeros(len(self.item_ids), dtype=bool)
        keep[np.asarray(items, dtype=np.int64)] = True
        texts = [t if k else "" for t, k in zip(self.texts, keep)]
        images = [p if k else None for p, k in zip(self.images, keep)]
        return ItemContent(self.item_ids, texts, images, {**self.report, "items_not_in_data": int((~keep).sum())})


def content_for_dataset(dataset: Dataset, folder: str | Path | None = None, image_dir: str | Path | None = None,
                        image_pattern: str = "{item_id}.jpg") -> ItemContent:
    """Raw text and image path of each item of ``dataset``.

    Images come from ``folder/item_images.tsv`` when it exists, else from ``image_dir/image_pattern`` (the
    pattern may use ``{item_id}`` and ``{index}``). A path that does not exist is kept: the encoder counts it
    as missing.
    """
    ids = [str(i) for i in dataset.item_ids]
    texts = [t or "" for t in dataset.item_text] if dataset.item_text is not None else [""] * len(ids)
    images: list[Path | None] = [None] * len(ids)
    sidecar = Path(folder) / IMAGES_FILE if folder is not None else None
    if sidecar is not None and sidecar.is_file():
        table = pd.read_csv(sidecar, sep="\t", dtype=str, keep_default_na=False, quoting=3)
        if list(table.columns[:2]) != ["item_id", "image"]:
            raise DataError(f"{sidecar}: expected columns 'item_id' and 'image', got {list(table.columns)}")
        lookup = dict(zip(table["item_id"], table["image"]))
        images = [_resolve(lookup.get(i, ""), sidecar.parent) for i in ids]
    elif image_dir is not None:
        root = Path(image_dir)
        if not root.is_dir():
            raise DataError(f"{root}: image folder not found")
        images = [root / image_pattern.format(item_id=i, index=n) for n, i in enumerate(ids)]
    source: dict[str, str] | None = None  # where the images were found, so that a later step can find them again
    if sidecar is not None and sidecar.is_file():
        source = {"file": str(sidecar.resolve())}
    elif image_dir is not None:
        source = {"image_dir": str(Path(image_dir).resolve()), "image_pattern": image_pattern}
    report = {"items": len(ids), "with_text": sum(bool(t.strip()) for t in texts),
              "with_image_file": sum(p is not None and p.is_file() for p in images), "image_source": source}
    return ItemContent(ids, texts, images, report)


def _resolve(value: str, root: Path) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else root / path


def read_table(path: str | Path, sep: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """A CSV / TSV (by extension, or ``sep``) or Parquet file as a string-typed frame."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise ConfigError(f"{path}: reading Parquet needs pyarrow: pip install 'alignrec[tables]'") from exc
        return frame.astype(str).replace({"None": "", "nan": "", "<NA>": ""})
    if sep is None:
        sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse as a table ({exc})") from exc


def _need(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the header has {list(frame.columns)}")


def _clean(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str).str.replace(r"[\t\r\n]+", " ", regex=True).str.strip()


def import_tables(items: str | Path, interactions: str | Path, out_dir: str | Path, item_col: str = "item_id",
                  text_cols: list[str] | None = None, image_col: str | None = None, user_col: str = "user_id",
                  rating_col: str | None = None, timestamp_col: str | None = None,
                  image_root: str | Path | None = None, name: str | None = None,
                  interaction_item_col: str | None = None) -> dict[str, Any]:
    """Convert an items table and an interactions table to a RecBole dataset folder; return the report.

    Text columns are joined with ``". "`` into one ``text`` field; image paths are relative to ``image_root``
    (default: the items table's folder). Interactions whose item is not in the items table are kept (the item
    gets no content). ``interaction_item_col`` names the item column of the interactions table when it differs
    from ``item_col``.
    """
    items, interactions, out = Path(items), Path(interactions), Path(out_dir)
    item_frame, inter_frame = read_table(items), read_table(interactions)
    text_cols = text_cols or [c for c in item_frame.columns if c not in (item_col, image_col)]
    _need(item_frame, [item_col, *text_cols, *([image_col] if image_col else [])], items)
    inter_item = interaction_item_col or item_col
    _need(inter_frame, [user_col, inter_item, *[c for c in (rating_col, timestamp_col) if c]], interactions)
    texts = _join_text(item_frame, text_cols)
    root = Path(image_root) if image_root is not None else items.parent
    image_paths = None
    if image_col:
        image_paths = [str((root / p).resolve()) if p.strip() else "" for p in _clean(item_frame[image_col])]
    inter = pd.DataFrame({"user": _clean(inter_frame[user_col]), "item": _clean(inter_frame[inter_item])})
    for key, col in (("rating", rating_col), ("timestamp", timestamp_col)):
        if col:
            inter[key] = pd.to_numeric(inter_frame[col], errors="coerce")
    return write_recbole_folder(out, name or out.name, inter, _clean(item_frame[item_col]).tolist(), texts,
                                image_paths, {"items_table": str(items), "interactions_table": str(interactions)})


def _join_text(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    parts = [_clean(frame[c]) for c in columns]
    out = []
    for row in zip(*parts) if parts else [()] * len(frame):
        out.append(". ".join(p for p in row if p))
    return out


def write_recbole_folder(out: Path, name: str, inter: pd.DataFrame, item_ids: list[str], texts: list[str],
                         image_paths: list[str] | None, report: dict[str, Any]) -> dict[str, Any]:
    """Write ``<name>.inter``, ``<name>.item``, optional ``item_images.tsv`` and ``import_report.json``."""
    bad = (inter["user"] == "") | (inter["item"] == "")
    for col in ("rating", "timestamp"):
        if col in inter:
            bad |= inter[col].isna()
    report = {**report, "interactions": int((~bad).sum()), "interaction_rows_skipped": int(bad.sum())}
    inter = inter[~bad]
    seen: dict[str, int] = {}
    for n, item in enumerate(item_ids):
        seen.setdefault(item, n)
    report["duplicate_item_rows_skipped"] = len(item_ids) - len(seen)
    keep = sorted(seen.values())
    ids, txt = [item_ids[n] for n in keep], [texts[n] for n in keep]
    extra = sorted(set(inter["item"]) - set(ids))
    report.update(items=len(ids) + len(extra), items_with_text=sum(bool(t) for t in txt),
                  items_only_in_interactions=len(extra))
    out.mkdir(parents=True, exist_ok=True)
    header = ["user_id:token", "item_id:token"] + [f"{c}:float" for c in ("rating", "timestamp") if c in inter]
    columns = [inter[c].astype(str).tolist() if c in ("user", "item") else inter[c].map(_number).tolist()
               for c in ("user", "item", "rating", "timestamp") if c in inter]
    _write_tsv(out / f"{name}.inter", header, columns)
    _write_tsv(out / f"{name}.item", ["item_id:token", "text:token_seq"], [ids + extra, txt + [""] * len(extra)])
    if image_paths is not None:
        paths = [image_paths[n] for n in keep]
        report["items_with_image_path"] = sum(bool(p) for p in paths)
        _write_tsv(out / IMAGES_FILE, ["item_id", "image"], [ids, paths])
    write_json(out / "import_report.json", report)
    return report


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _write_tsv(path: Path, header: list[str], columns: list[list[str]]) -> None:
    """A plain tab-separated file (fields are already free of tabs and newlines; no quoting)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\t".join(header) + "\n")
        handle.writelines("\t".join(row) + "\n" for row in zip(*columns))


def _read_bx(path: Path, columns: int, limit: int | None) -> tuple[list[list[str]], int, list[int]]:
    """Rows of a Book-Crossing CSV with exactly ``columns`` fields; malformed rows are counted and skipped."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows, bad_lines = [], []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="latin-1", newline="") as handle:
        reader = csv.reader(handle, delimiter=";", quotechar='"', escapechar="\\", doublequote=False)
        header = next(reader, None)
        if header is None or len(header) != columns:
            raise DataError(f"{path}: expected a {columns}-column ';'-separated header, got {header}")
        for row in reader:
            if len(row) != columns:
                bad_lines.append(reader.line_num)
                continue
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    return rows, len(bad_lines), bad_lines[:5]


def import_book_crossing(src: str | Path, out_dir: str | Path, max_ratings: int | None = None,
                         name: str = "book-crossing") -> dict[str, Any]:
    """Convert ``BX-Books.csv.gz`` and ``BX-Book-Ratings.csv.gz`` to a RecBole folder; return the report.

    Text is title, author, year and publisher (HTML entities decoded; year 0 dropped). ISBNs rated but absent
    from the book table are kept as items with no text. Only image URLs exist, so no images are imported.
    """
    src = Path(src)
    books, bad_books, bad_book_lines = _read_bx(_bx_file(src, "BX-Books"), 8, None)
    ratings, bad_ratings, bad_rating_lines = _read_bx(_bx_file(src, "BX-Book-Ratings"), 3, max_ratings)
    item_ids = [b[0].strip() for b in books]
    texts = [". ".join(html.unescape(f).strip() for f in (b[1], b[2], b[3], b[4])
                       if f.strip() and f.strip() not in ("0", "NULL")) for b in books]
    frame = pd.DataFrame(ratings, columns=["user", "item", "rating"])
    inter = pd.DataFrame({"user": _clean(frame["user"]), "item": _clean(frame["item"]),
                          "rating": pd.to_numeric(frame["rating"], errors="coerce")})
    report = {"source": str(src), "book_rows_malformed_skipped": bad_books, "book_malformed_lines": bad_book_lines,
              "rating_rows_malformed_skipped": bad_ratings, "rating_malformed_lines": bad_rating_lines,
              "max_ratings": max_ratings}
    report = write_recbole_folder(Path(out_dir), name, inter, item_ids, texts, None, report)
    report["items_without_metadata"] = report["items_only_in_interactions"]
    write_json(Path(out_dir) / "import_report.json", report)
    return report


def _bx_file(src: Path, stem: str) -> Path:
    for candidate in (src / f"{stem}.csv.gz", src / f"{stem}.csv"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{src}: neither {stem}.csv.gz nor {stem}.csv found")
