"""MMEnc pre-training: missing modalities, wrong shapes, the collaborative variant, the pretrain command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alignrec.cli import main
from alignrec.content.pretrain import PretrainConfig, pretrain
from alignrec.data import load_dataset
from alignrec.errors import ConfigError, DataError
from tests.conftest import RealData


def _features(n: int = 120, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 8))
    feats = {"image": base @ rng.normal(size=(8, 24)), "text": base @ rng.normal(size=(8, 16)),
             "audio": rng.normal(size=(n, 12))}
    feats["image"][:20] = 0.0  # items 0-19 have no image
    feats["audio"][10:60] = 0.0
    feats["text"][5] = 0.0
    for m in feats.values():
        m[0] = 0.0  # item 0 has nothing at all
    return {k: v.astype(np.float32) for k, v in feats.items()}


@pytest.mark.parametrize("fusion", ["mlp", "transformer"])
def test_any_modalities_and_missing_ones(fusion: str) -> None:
    config = PretrainConfig(width=32, out_dim=16, epochs=3, batch_size=64, fusion=fusion, heads=2, patience=5)
    result = pretrain(_features(), config, progress=False)
    assert result.unified.shape == (120, 16) and np.isfinite(result.unified).all()
    assert not result.unified[0].any()  # no content at all -> missing
    assert (np.abs(result.unified[1:]).sum(axis=1) > 0).all()  # partial content still gets a feature
    assert {"contrast", "masked", "recon", "holdout_loss"} <= set(result.history[0])


def test_wrong_row_count_is_a_clear_error() -> None:
    feats = _features()
    feats["text"] = feats["text"][:-3]
    with pytest.raises(DataError, match=r"modality 'text' has shape \(117, 16\), expected \[120, d\]"):
        pretrain(feats, PretrainConfig(epochs=1), progress=False)
    with pytest.raises(DataError, match="at least one modality"):
        pretrain({}, PretrainConfig(epochs=1), progress=False)


def test_bad_config_and_collaborative_needs_data() -> None:
    with pytest.raises(ConfigError, match="fusion"):
        PretrainConfig(fusion="rnn")
    with pytest.raises(ConfigError, match="unknown field"):
        PretrainConfig.from_dict({"widht": 3})
    with pytest.raises(ConfigError, match="need the dataset"):
        pretrain(_features(), PretrainConfig(collaborative=True, epochs=1), progress=False)


def test_collaborative_and_valid_selection_on_real_data(tmp_path: Path, real_data: RealData) -> None:
    dataset = load_dataset(real_data.config(cache_dir=str(tmp_path / "cache")))
    feats = dict(dataset.features)
    config = PretrainConfig(width=64, out_dim=32, epochs=2, collaborative=True, select="valid")
    result = pretrain(feats, config, dataset, progress=False)
    assert result.unified.shape == (dataset.n_items, 32)
    assert "valid_recall@20" in result.history[0] and result.history[0]["collab"] > 0


def test_pretrain_command_writes_derived_folder(tmp_path: Path, real_data: RealData) -> None:
    out = tmp_path / "derived"
    code = main(["pretrain", *real_data.cli_args(), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                 "--no-progress", "--set", "epochs=2", "--set", "out_dim=32"])
    assert code == 0
    n_items = real_data.facts["items"]
    unified = np.load(out / "unified_feat.npy")
    assert unified.shape == (n_items, 32)
    assert (out / real_data.facts["inter_file"]).is_symlink()  # links, no copies
    assert (out / "pretrain" / "mmenc.pt").is_file() and (out / "pretrain" / "pretrain_log.jsonl").is_file()
    derived = RealData(real_data.name, out, real_data.split, real_data.rating_threshold)
    dataset = load_dataset(derived.config(cache_dir=str(tmp_path / "cache")))
    assert dataset.unified_feature().shape == (n_items, 32)


def test_pretrain_name_keeps_two_stage1_features_side_by_side(tmp_path: Path, real_data: RealData,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out, cache = tmp_path / "derived", str(tmp_path / "cache")
    common = [*real_data.cli_args(), "--cache-dir", cache, "--no-progress", "--set", "epochs=1", "--set", "out_dim=16"]
    assert main(["pretrain", *common, "--out", str(out)]) == 0
    first = np.load(out / "unified_feat.npy")
    derived = RealData(real_data.name, out, real_data.split, real_data.rating_threshold)
    assert main(["pretrain", *derived.cli_args(), "--cache-dir", cache, "--no-progress", "--set", "epochs=1",
                 "--set", "out_dim=8", "--out", str(out), "--collaborative", "--name", "unified_cf"]) == 0
    np.testing.assert_array_equal(np.load(out / "unified_feat.npy"), first)  # untouched
    assert (out / "pretrain" / "mmenc.pt").is_file() and (out / "pretrain-unified_cf" / "mmenc.pt").is_file()
    dataset = load_dataset(derived.config(cache_dir=cache))
    assert dataset.features["unified_cf"].shape == (dataset.n_items, 8)
    assert dataset.unified_feature().shape == (dataset.n_items, 16)  # `unified` stays AlignRec's default
    assert main(["pretrain", *derived.cli_args(), "--out", str(out), "--name", "image"]) != 0
    assert "--name must be 'unified' or 'unified_" in capsys.readouterr().err


def test_training_slice_keeps_every_user_and_is_seeded() -> None:
    from alignrec.data.split import training_slice_mask

    users = np.repeat(np.arange(300), np.random.default_rng(1).integers(1, 12, size=300))
    held = training_slice_mask(users, 0.2, seed=5)
    assert np.array_equal(held, training_slice_mask(users, 0.2, seed=5))
    assert set(users[~held]) == set(users)  # each user keeps a profile
    assert 0.05 < held.mean() < 0.2  # the rank-0 row of each user is never held
    with pytest.raises(ValueError, match="fraction"):
        training_slice_mask(users, 0.0, seed=5)


def test_train_slice_selection_never_reads_the_validation_split(tmp_path: Path, real_data: RealData) -> None:
    import dataclasses

    dataset = load_dataset(real_data.config(cache_dir=str(tmp_path / "cache")))
    config = PretrainConfig(width=32, out_dim=16, epochs=3, patience=5, collaborative=True, select="train_slice")
    result = pretrain(dict(dataset.features), config, dataset, progress=False)
    assert "valid_recall@20" in result.history[0]
    shuffled = dataclasses.replace(dataset, valid=dataset.valid[::-1].copy() % [dataset.n_users, 7])
    again = pretrain(dict(dataset.features), config, shuffled, progress=False)
    np.testing.assert_array_equal(result.unified, again.unified)
    assert [r["valid_recall@20"] for r in result.history] == [r["valid_recall@20"] for r in again.history]
    valid_selected = pretrain(dict(dataset.features), dataclasses.replace(config, select="valid"), dataset,
                              progress=False)
    assert [r["valid_recall@20"] for r in valid_selected.history] != [r["valid_recall@20"] for r in result.history]
