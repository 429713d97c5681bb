"""Stage 1 never reads the test split, and a learned feature cannot be used with a split it was not made on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alignrec.cli import main
from alignrec.config import DataConfig
from alignrec.data import load_dataset
from tests.conftest import RealData, write_split


def pretrain_bytes(folder: Path, tmp: Path, *options: str) -> bytes:
    out = tmp / f"out-{folder.name}-{len(options)}"
    assert main(["pretrain", str(folder), "--out", str(out), "--cache-dir", str(tmp / "cache"), "--no-progress",
                 "--threads", "1", "--set", "epochs=3", "--set", "width=32", "--set", "out_dim=16",
                 "--set", "select=valid", *options]) == 0
    return (out / "unified_feat.npy").read_bytes()


@pytest.mark.parametrize("collaborative", [False, True])
def test_moving_test_interactions_changes_no_byte_of_the_unified_feature(
        tmp_path: Path, real_data: RealData, collaborative: bool) -> None:
    dataset = load_dataset(real_data.config(features=sorted(real_data.facts["features"])))
    original = write_split(tmp_path / "original", dataset)
    moved_items = np.random.default_rng(0).permutation(dataset.test[:, 1])  # every user's test item elsewhere
    assert (moved_items != dataset.test[:, 1]).mean() > 0.9
    moved = write_split(tmp_path / "moved", dataset, moved_items)
    a, b = (load_dataset(DataConfig(path=str(f), cache_dir=str(tmp_path / "c"))) for f in (original, moved))
    assert np.array_equal(a.train, b.train) and np.array_equal(a.valid, b.valid)
    assert not np.array_equal(a.test, b.test)
    options = ["--collaborative"] if collaborative else []
    assert pretrain_bytes(original, tmp_path, *options) == pretrain_bytes(moved, tmp_path, *options)


def test_a_feature_pretrained_on_another_split_is_refused(tiny_folder: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    derived = tmp_path / "derived"
    split = ["--split", "random", "--cache-dir", str(tmp_path / "cache")]
    assert main(["pretrain", str(tiny_folder), "--out", str(derived), *split, "--data-seed", "1", "--no-progress",
                 "--set", "epochs=1", "--set", "width=8", "--set", "out_dim=4"]) == 0
    record = json.loads((derived / "pretrain" / "pretrain.json").read_text())
    assert record["split"]["seed"] == 1 and record["split"]["split"] == "random" and record["uses_interactions"]
    card = json.loads((derived / "unified_feat.json").read_text())
    assert card["split"]["fingerprint"] == record["split"]["fingerprint"]
    capsys.readouterr()

    def train(*extra: str) -> int:
        return main(["train", str(derived), *split, "--model", "alignrec", "--epochs", "1", "--no-progress",
                     "--param", "knn_k=3", *extra])

    assert train("--data-seed", "2", "--run-dir", str(tmp_path / "refused")) == 2
    err = capsys.readouterr().err
    assert "unified_feat.npy was learned from another split" in err and "'seed': (1, 2)" in err
    assert not (tmp_path / "refused").exists()
    assert train("--data-seed", "1", "--run-dir", str(tmp_path / "same")) == 0
    assert train("--data-seed", "2", "--allow-split-mismatch", "--run-dir", str(tmp_path / "accepted")) == 0
    config = json.loads((tmp_path / "accepted" / "config.json").read_text())
    assert config["data"]["allow_split_mismatch"] is True
    assert main(["train", str(derived), *split, "--data-seed", "2", "--features", "image", "text", "--model", "bpr",
                 "--epochs", "1", "--no-progress", "--run-dir", str(tmp_path / "without")]) == 0
