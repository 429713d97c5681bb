"""Each kind of bad input gets a clear message and leaves no run directory or cache file behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alignrec.cli import main
from alignrec.data import load_dataset
from alignrec.errors import DataWarning
from tests.conftest import tiny_rows, write_mmrec


def run_train(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path, Path]:
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    code = main(["train", str(folder), "--model", "alignrec", "--epochs", "1", "--no-progress",
                 "--run-dir", str(run_dir), "--cache-dir", str(cache)])
    return code, capsys.readouterr().err, run_dir, cache


def assert_failed_cleanly(code: int, err: str, run_dir: Path, cache: Path, *needles: str) -> None:
    assert code == 2, err
    for needle in needles:
        assert needle in err, err
    assert not run_dir.exists(), "a failed run must not leave a run directory"
    assert not cache.exists() or not any(cache.iterdir()), "a failed load must not leave cache files"


def features(n_items: int = 8) -> dict[str, np.ndarray]:
    return {"image": np.random.default_rng(0).normal(size=(n_items, 4)).astype(np.float32)}


def test_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(u, i, r, t) for u, i, r, t, _ in tiny_rows()]
    folder = write_mmrec(tmp_path / "d", rows, header="user\titemID\trating\ttimestamp", features=features())
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "d.inter", "missing column", "userID")


def test_non_numeric_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tiny_rows()
    rows[4] = ("alice", *rows[4][1:])
    folder = write_mmrec(tmp_path / "d", rows, features=features())
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "d.inter", "line 6", "'alice'", "userID")


def test_feature_rows_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_mmrec(tmp_path / "d", tiny_rows(), features=features(n_items=5))
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "image_feat.npy", "5 rows", "8 items")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_features(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: float) -> None:
    feats = features()
    feats["image"][3, 1] = bad
    folder = write_mmrec(tmp_path / "d", tiny_rows(), features=feats)
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "image_feat.npy", "NaN or inf", "item rows 3")


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'sh"])
def test_empty_or_truncated_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    folder = write_mmrec(tmp_path / "d", tiny_rows())
    (folder / "image_feat.npy").write_bytes(content)
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "image_feat.npy")
    assert "empty" in err or "truncated" in err


def test_truncated_npy_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_mmrec(tmp_path / "d", tiny_rows(), features=features())
    path = folder / "image_feat.npy"
    path.write_bytes(path.read_bytes()[:-20])
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "image_feat.npy", "truncated")


def test_empty_train_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(u, i, r, t, 2 if lab == 0 else lab) for u, i, r, t, lab in tiny_rows()]
    folder = write_mmrec(tmp_path / "d", rows, features=features())
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "d.inter", "train split is empty")


def test_truncated_inter_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_mmrec(tmp_path / "d", tiny_rows(), features=features())
    inter = folder / "d.inter"
    inter.write_text(inter.read_text()[:-7])  # last row loses its trailing columns
    code, err, run_dir, cache = run_train(folder, tmp_path, capsys)
    assert_failed_cleanly(code, err, run_dir, cache, "d.inter", f"line {len(tiny_rows()) + 1}")


def test_duplicates_reported_and_removed(tmp_path: Path) -> None:
    rows = tiny_rows()
    rows.insert(2, rows[0])
    rows.insert(7, rows[5])
    folder = write_mmrec(tmp_path / "d", rows, features=features())
    with pytest.warns(DataWarning, match=r"2 duplicate \(user, item\) row\(s\) removed, first at line 4"):
        dataset = load_dataset(folder, use_cache=False)
    assert dataset.report["duplicates_removed"] == 2
    pairs = np.concatenate([dataset.train, dataset.valid, dataset.test])
    assert len(np.unique(pairs, axis=0)) == len(pairs) == len(rows) - 2


def test_unseen_users_dropped_with_warning(tmp_path: Path) -> None:
    rows = tiny_rows() + [(99, 1, 1, 0, 1), (99, 2, 1, 1, 2)]  # user 99 appears in valid/test only
    folder = write_mmrec(tmp_path / "d", rows, features=features())
    with pytest.warns(DataWarning, match="users with no training interaction were dropped"):
        dataset = load_dataset(folder, use_cache=False)
    assert "99" not in dataset.user_ids.tolist()
    assert dataset.report["valid_rows_dropped_unseen_user"] == 1
    assert dataset.report["test_rows_dropped_unseen_user"] == 1


def test_unknown_model_param_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_mmrec(tmp_path / "d", tiny_rows(), features=features())
    code = main(["train", str(folder), "--param", "alpha=0.1", "--run-dir", str(tmp_path / "run")])
    assert code == 2
    assert "unknown field(s) ['alpha']" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
