"""Raw-content import: generic CSV/Parquet tables and the Book-Crossing CSVs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignrec.cli import main
from alignrec.config import DataConfig
from alignrec.content.importers import content_for_dataset, import_book_crossing, import_tables
from alignrec.data import load_dataset
from alignrec.errors import DataError
from tests.conftest import BX, require


def _tables(tmp_path: Path, suffix: str) -> tuple[Path, Path]:
    for name in ("1.jpg", "2.jpg"):  # only the files' existence matters to the importer
        (tmp_path / name).write_bytes(b"\xff\xd8\xff\xe0")
    items = pd.DataFrame({"sku": ["a", "b", "c", "d"], "title": ["Red Shoe", "Blue Hat", "", "Green Coat"],
                          "brand": ["Acme", "Hatco", "", "Acme"],
                          "img": [str(tmp_path / "1.jpg"), "missing.jpg", "", "2.jpg"]})
    users = [f"u{n}" for n in range(6) for _ in range(4)]
    inter = pd.DataFrame({"user": users, "item": ["a", "b", "c", "d", "e"] * 4 + ["a", "b", "c", "d"],
                          "stars": [5] * 24, "ts": range(24)})
    paths = tmp_path / f"items{suffix}", tmp_path / f"inter{suffix}"
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
        items.to_parquet(paths[0])
        inter.to_parquet(paths[1])
    else:
        items.to_csv(paths[0], index=False)
        inter.to_csv(paths[1], index=False)
    return paths


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_import_tables(tmp_path: Path, suffix: str) -> None:
    items, inter = _tables(tmp_path, suffix)
    out = tmp_path / "shop"
    report = import_tables(items, inter, out, item_col="sku", text_cols=["title", "brand"], image_col="img",
                           user_col="user", rating_col="stars", timestamp_col="ts", interaction_item_col="item")
    assert report["items"] == 5 and report["items_only_in_interactions"] == 1  # "e" has no metadata
    dataset = load_dataset(DataConfig(path=str(out), cache_dir=str(tmp_path / "cache")))
    assert dataset.n_items == 5 and len(dataset.train) > 0
    content = content_for_dataset(dataset, out)
    by_id = dict(zip(content.item_ids, content.texts))
    assert by_id["a"] == "Red Shoe. Acme" and by_id["c"] == "" and by_id["e"] == ""
    images = dict(zip(content.item_ids, content.images))
    assert images["a"] is not None and images["a"].is_file() and images["c"] is None and images["e"] is None
    assert content.report["with_image_file"] == 2


def test_import_tables_names_missing_column(tmp_path: Path) -> None:
    items, inter = _tables(tmp_path, ".csv")
    with pytest.raises(DataError, match="missing column"):
        import_tables(items, inter, tmp_path / "x", item_col="product_id", user_col="user")


def test_book_crossing_real_slice(tmp_path: Path) -> None:
    report = import_book_crossing(require(BX), tmp_path / "bx", max_ratings=3000)
    assert report["interactions"] == 3000 and report["book_rows_malformed_skipped"] == 0
    assert report["items_without_metadata"] > 0
    dataset = load_dataset(DataConfig(path=str(tmp_path / "bx"), cache_dir=str(tmp_path / "cache")))
    texts = dict(zip(dataset.item_ids, dataset.item_text or []))
    assert texts["0195153448"].startswith("Classical Mythology. Mark P. O. Morford")
    assert sum(1 for t in texts.values() if not t) >= report["items_without_metadata"]


def test_book_crossing_malformed_rows_are_counted(tmp_path: Path) -> None:
    src = tmp_path / "bxsrc"
    src.mkdir()
    header = '"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"S";"M";"L"\n'
    rows = ['"1";"A \\"quoted\\" title";"Ann";"1999";"Pub";"s";"m";"l"\n', '"2";"Broken";"row"\n',
            '"3";"Caf&amp;e";"Bob";"0";"Pub";"s";"m";"l"\n']
    with gzip.open(src / "BX-Books.csv.gz", "wt", encoding="latin-1") as f:
        f.write(header + "".join(rows))
    with gzip.open(src / "BX-Book-Ratings.csv.gz", "wt", encoding="latin-1") as f:
        f.write('"User-ID";"ISBN";"Book-Rating"\n"7";"1";"5"\n"7";"3";"0"\n"8";"9";"x";"extra"\n"8";"4";"0"\n')
    report = import_book_crossing(src, tmp_path / "out")
    assert report["book_rows_malformed_skipped"] == 1 and report["book_malformed_lines"] == [3]
    assert report["rating_rows_malformed_skipped"] == 1
    item_file = (tmp_path / "out" / "book-crossing.item").read_text()
    assert 'A "quoted" title. Ann. 1999. Pub' in item_file and "Caf&e. Bob. Pub" in item_file


def test_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items, inter = _tables(tmp_path, ".csv")
    out = tmp_path / "shop"
    assert main(["import", "tables", "--items", str(items), "--interactions", str(inter), "--out", str(out),
                 "--item-col", "sku", "--text-cols", "title", "brand", "--image-col", "img", "--user-col", "user",
                 "--interaction-item-col", "item", "--rating-col", "stars", "--timestamp-col", "ts"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == 5
    assert (out / "shop.inter").is_file() and (out / "item_images.tsv").is_file()
    assert main(["import", "tables", "--items", str(items), "--out", str(tmp_path / "x")]) == 2
    assert "needs 'items' and 'interactions'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_content_follows_the_data_filters(tmp_path: Path) -> None:
    pd.DataFrame({"item_id": ["a", "b", "c", "z"], "title": ["Red Shoe", "Blue Hat", "Old Coat", "Rare Pin"]}).to_csv(
        tmp_path / "items.csv", index=False)
    users = ["u1", "u1", "u1", "u2", "u2", "u2", "u3", "u3", "u3", "u3"]
    pd.DataFrame({"user_id": users, "item_id": ["a", "b", "c", "a", "b", "c", "a", "b", "c", "z"]}).to_csv(
        tmp_path / "inter.csv", index=False)
    out = tmp_path / "shop"
    import_tables(tmp_path / "items.csv", tmp_path / "inter.csv", out)
    full = load_dataset(DataConfig(path=str(out), cache_dir=str(tmp_path / "c")))
    # what the encode step loads: the whole catalogue indexed (its files have a row per catalogue item)
    filtered = load_dataset(DataConfig(path=str(out), cache_dir=str(tmp_path / "c"), k_core=2,
                                       keep_filtered_items=True))  # item z loses its interaction
    kept = content_for_dataset(filtered, out).only(filtered.used_items())
    by_id = dict(zip(kept.item_ids, kept.texts))
    assert full.n_items == filtered.n_items == 4 and len(filtered.used_items()) == 3
    assert by_id == {"a": "Red Shoe", "b": "Blue Hat", "c": "Old Coat", "z": ""}
    assert kept.report["items_not_in_data"] == 1
    # what training loads: the dropped item is not indexed at all, features follow, the split is the same
    np.save(out / "text_feat.npy", np.arange(8, dtype=np.float32).reshape(4, 2) + 1)
    for use_cache in (False, True, True):  # built, built and cached, read from the cache
        compact = load_dataset(DataConfig(path=str(out), cache_dir=str(tmp_path / "c2"), k_core=2),
                               use_cache=use_cache)
        assert compact.n_items == 3 and compact.item_ids.tolist() == ["a", "b", "c"]
        assert compact.report["items_dropped_by_k_core"] == 1
        np.testing.assert_array_equal(compact.features["text"], [[1, 2], [3, 4], [5, 6]])
        assert compact.item_text == ["Red Shoe", "Blue Hat", "Old Coat"]
        assert compact.split_fingerprint() == filtered.split_fingerprint()
        assert compact.train[:, 1].max() < 3
