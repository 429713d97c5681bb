"""The synthetic scale-ladder generator and the Parquet interaction reader it feeds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from alignrec.data import load_dataset  # noqa: E402
from alignrec.data import synthetic as synthetic_module  # noqa: E402
from alignrec.data.synthetic import INTERACTIONS_FILE, SyntheticSpec, power_law_weights, write_synthetic  # noqa: E402
from alignrec.errors import ConfigError, DataError  # noqa: E402

SPEC = SyntheticSpec(n_users=600, n_items=300, n_interactions=9000, seed=5, feature_dims={"image": 8, "text": 12})


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_files_and_exact_size(tmp_path: Path) -> None:
    a, b = write_synthetic(SPEC, tmp_path / "a"), write_synthetic(SPEC, tmp_path / "b")
    assert digest(a) == digest(b)
    table = pq.read_table(a / INTERACTIONS_FILE)
    pairs = np.stack([table.column("userID").to_numpy(), table.column("itemID").to_numpy()], 1)
    assert len(pairs) == SPEC.n_interactions == len(np.unique(pairs, axis=0))  # distinct pairs, as many as asked
    assert pairs[:, 0].max() < SPEC.n_users and pairs[:, 1].max() < SPEC.n_items
    assert np.load(a / "text_feat.npy").shape == (SPEC.n_items, 12)


def test_loads_as_a_dataset_with_power_law_and_shared_structure(tmp_path: Path) -> None:
    folder = write_synthetic(SPEC, tmp_path / "syn")
    dataset = load_dataset(folder, use_cache=False)
    assert dataset.report["format"] == "parquet"
    assert len(dataset.train) + len(dataset.valid) + len(dataset.test) == SPEC.n_interactions
    assert set(dataset.features) == {"image", "text"}
    popularity = np.sort(np.bincount(dataset.train[:, 1], minlength=dataset.n_items))[::-1]
    assert popularity[: len(popularity) // 10].sum() > 0.2 * popularity.sum()  # uniform would be 0.1
    # items that share users have closer features than random pairs: content carries the interaction structure
    feat = dataset.features["text"] / np.linalg.norm(dataset.features["text"], axis=1, keepdims=True)
    user_items = dataset.matrix("train")
    co = (user_items.T @ user_items).tocoo()
    strong = co.data >= np.quantile(co.data[co.row != co.col], 0.9)
    pairs = (co.row != co.col) & strong
    linked = (feat[co.row[pairs]] * feat[co.col[pairs]]).sum(1).mean()
    rng = np.random.default_rng(0)
    random_pairs = rng.integers(0, dataset.n_items, size=(2000, 2))
    baseline = (feat[random_pairs[:, 0]] * feat[random_pairs[:, 1]]).sum(1).mean()
    assert linked > baseline + 0.1


def test_power_law_weights() -> None:
    weights = power_law_weights(1000, 1.0, np.random.default_rng(0))
    assert weights.sum() == pytest.approx(1.0) and weights.max() / weights.min() == pytest.approx(1000.0)


def test_bad_specs_and_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="n_interactions"):
        SyntheticSpec(n_users=10, n_items=10, n_interactions=50)
    with pytest.raises(ConfigError, match="n_users"):
        SyntheticSpec(n_users=0, n_items=10, n_interactions=1)
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        write_synthetic(SPEC, tmp_path / "taken")


def test_interrupted_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic_module, "write_features", fail)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic(SPEC, tmp_path / "syn")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("table, message", [
    (pa.table({"userID": [0, 1], "item": [0, 1]}), r"missing column\(s\) \['itemID'\]"),
    (pa.table({"userID": [0, -1], "itemID": [0, 1]}), r"row 2, column 'userID': -1 is negative"),
    (pa.table({"userID": [0, None, 2], "itemID": [0, 1, 2]}), r"row 2, column 'userID' is empty"),
    (pa.table({"userID": [0.5, 1.0], "itemID": [0, 1]}), r"column 'userID' must hold integers"),
    (pa.table({"userID": [0, 1], "itemID": [0, 1], "x_label": [0, 3]}), r"row 2, column 'x_label': 3"),
])
def test_bad_parquet_is_named(tmp_path: Path, table: pa.Table, message: str) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    pq.write_table(table, folder / "bad.inter.parquet")
    with pytest.raises(DataError, match=message) as info:
        load_dataset(folder, use_cache=False)
    assert "bad.inter.parquet" in str(info.value)


def test_not_parquet_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bad.inter.parquet").write_text("userID\titemID\n0\t1\n")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load_dataset(folder, use_cache=False)


def test_cli_writes_and_reads_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from alignrec.cli import main

    assert main(["data", "synthetic", str(tmp_path / "syn"), "--users", "300", "--items", "100",
                 "--interactions", "2000", "--feature-dim", "8"]) == 0
    assert main(["data", "info", str(tmp_path / "syn"), "--no-cache", "--json"]) == 0
    assert '"interactions": 2000' in capsys.readouterr().out
    assert main(["data", "synthetic", str(tmp_path / "syn"), "--users", "300", "--items", "100",
                 "--interactions", "2000"]) == 2  # the folder exists: an error, nothing overwritten
