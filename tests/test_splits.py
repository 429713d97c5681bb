"""Split and filter functions, and the dataset loaders on the real datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alignrec.data import cache, load_dataset
from alignrec.data.split import TEST, TRAIN, VALID, k_core_mask, random_split, time_split
from tests.conftest import SCI, require


def test_random_split_rounding_rules() -> None:
    users = np.repeat(np.arange(4), [19, 10, 5, 2])
    counts = {rounding: {u: np.bincount(random_split(users, 3, rounding)[users == u], minlength=3).tolist()
                         for u in range(4)} for rounding in ("floor", "mmrec")}
    assert counts["floor"] == {0: [17, 1, 1], 1: [8, 1, 1], 2: [3, 1, 1], 3: [2, 0, 0]}
    assert counts["mmrec"] == {0: [16, 1, 2], 1: [8, 1, 1], 2: [3, 1, 1], 3: [2, 0, 0]}
    with pytest.raises(ValueError, match="rounding"):
        random_split(users, 3, "ceil")


def test_random_split_sizes_and_seed() -> None:
    users = np.repeat(np.arange(4), [20, 10, 5, 2])
    labels = random_split(users, seed=3)
    counts = {u: np.bincount(labels[users == u], minlength=3).tolist() for u in range(4)}
    assert counts == {0: [16, 2, 2], 1: [8, 1, 1], 2: [3, 1, 1], 3: [2, 0, 0]}
    assert np.array_equal(labels, random_split(users, seed=3))
    assert not np.array_equal(labels, random_split(users, seed=4))


def test_time_split_takes_last_two() -> None:
    users = np.array([0, 0, 0, 0, 1, 1, 1])
    stamps = np.array([5, 1, 9, 3, 2, 1, 0])
    labels = time_split(users, stamps)
    assert labels.tolist() == [VALID, TRAIN, TEST, TRAIN, TEST, VALID, TRAIN]


def test_k_core_is_iterative() -> None:
    # item 2 has one interaction; removing it leaves user 1 with one interaction, which then goes too.
    users = np.array([0, 0, 1, 1, 2, 2])
    items = np.array([0, 1, 0, 2, 0, 1])
    keep = k_core_mask(users, items, 2)
    assert keep.tolist() == [True, True, False, False, True, True]


def test_amazon_scientific_own_split() -> None:
    ds = load_dataset(require(SCI))
    assert (ds.n_users, ds.n_items) == (2928, 1585)
    assert set(ds.features) == {"image", "text"} and ds.features["image"].shape == (1585, 512)
    assert ds.report["split"] == "labels"
    seen = np.zeros(ds.n_users, dtype=bool)
    seen[ds.train[:, 0]] = True
    assert seen[ds.test[:, 0]].all() and seen[ds.valid[:, 0]].all()


def test_movielens_threshold_random_split_and_cache(movielens: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_dataset(movielens, rating_threshold=4, split="random")
    monkeypatch.setattr(cache, "build_dataset", lambda config: pytest.fail("the second load re-read the files"))
    second = load_dataset(movielens, rating_threshold=4, split="random")
    assert "from_cache" not in first.report and second.report["from_cache"]
    assert second.split_fingerprint() == first.split_fingerprint()
    assert np.array_equal(first.test, second.test)
    assert len(first.train) + len(first.valid) + len(first.test) == 55375  # ratings >= 4 in ml-100k
    assert first.item_text is not None and first.item_text[0].startswith("Toy Story")
    assert first.item_ids[0] == "1"  # RecBole items follow the .item file order


def test_cache_invalidated_when_file_changes(tiny_folder: Path) -> None:
    a = load_dataset(tiny_folder)
    inter = tiny_folder / "tiny.inter"
    inter.write_text(inter.read_text() + "50\t0\t1\t9\t0\n")
    b = load_dataset(tiny_folder)
    assert "from_cache" not in b.report
    assert len(b.train) == len(a.train) + 1
