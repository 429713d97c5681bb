"""``alignrec run``: encode -> pretrain -> train -> evaluate on a 40-item slice of MovieLens, then all cached.

With ``../shared`` the slice has posters (EfficientNet-Lite0 images + MiniLM text); on a plain clone it is the
wheel's MovieLens with text only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignrec.cli import main
from alignrec.config import RuntimeOptions, to_dict
from alignrec.errors import ConfigError
from alignrec.runs.load import load_run
from alignrec.runs.pipeline import PipelineConfig, run_pipeline
from alignrec.runs.quickstart import quickstart_pipeline
from tests.conftest import POSTERS

QUIET = RuntimeOptions(progress=False)


def _slice(source: Path, folder: Path, n_items: int = 40) -> Path:
    """A RecBole folder with the first ``n_items`` items that have a poster, plus one that has none."""
    folder.mkdir(parents=True)
    items = pd.read_csv(source / "ml-100k.item", sep="\t", dtype=str)
    has = items["item_id:token"].map(lambda i: (POSTERS / f"{i}.jpg").is_file())
    if not has.any():  # no posters on a plain clone: any items will do
        has = items.index > 0
    keep = pd.concat([items[has].head(n_items - 1), items[~has].head(1)])
    keep.loc[keep.index[0], "movie_title:token_seq"] = ""  # an item with empty text
    keep.loc[keep.index[0], "release_year:token"] = ""
    keep.loc[keep.index[0], "class:token_seq"] = ""
    keep.to_csv(folder / "slice.item", sep="\t", index=False)
    inter = pd.read_csv(source / "ml-100k.inter", sep="\t", dtype=str)
    inter = inter[inter["item_id:token"].isin(set(keep["item_id:token"]))]
    inter.to_csv(folder / "slice.inter", sep="\t", index=False)
    return folder


def test_pipeline_end_to_end_then_cached(tmp_path: Path, movielens: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    data = _slice(movielens, tmp_path / "slice")
    images = POSTERS.is_dir()
    content = {"text": "minilm", **({"image": "efficientnet-lite0", "image_dir": str(POSTERS)} if images else {})}
    config = {
        "workdir": str(tmp_path / "work"),
        "data": {"path": str(data), "split": "random", "rating_threshold": 4, "cache_dir": str(tmp_path / "cache")},
        "content": content,
        "pretrain": {"epochs": 3, "width": 64, "out_dim": 32},
        "train": {"epochs": 5, "batch_size": 512}, "topk": [5, 10, 20], "baselines": ["pop"],
    }
    messages: list[str] = []
    summary = run_pipeline(PipelineConfig.from_dict(config), QUIET, log=messages.append)
    folder = tmp_path / "work" / "dataset"
    assert np.load(folder / "text_mask.npy").sum() == 39
    assert np.load(folder / "unified_feat.npy").shape == (40, 32)
    if images:
        assert np.load(folder / "image_mask.npy").sum() == 39
        assert set(summary["zero_shot"]) == {"image", "text", "concat", "unified"}
    else:
        assert set(summary["zero_shot"]) == {"text", "unified"}
    # 40 items, about 33 candidates per user: a random ranking has recall@10 near 0.3 (popularity: about 0.75).
    assert summary["stage2"]["test"]["recall@10"] > 0.5, summary["stage2"]["test"]
    assert main(["evaluate", str(tmp_path / "work" / "run"), "--json"]) == 0
    recomputed = json.loads(capsys.readouterr().out)["metrics"]  # the run directory holds what was reported
    assert recomputed == pytest.approx(summary["stage2"]["test"])
    assert summary["stage2"]["model"] == "alignrec" and summary["baselines"]["pop"]["model"] == "pop"
    assert (tmp_path / "work" / "baselines" / "pop" / "run" / "metrics.json").is_file()
    assert (tmp_path / "work" / "results.json").is_file()
    assert not any("up to date" in m for m in messages)

    cfg_path = tmp_path / "pipeline.json"
    cfg_path.write_text(json.dumps(config))
    messages.clear()
    run_pipeline(PipelineConfig.load(cfg_path), RuntimeOptions(progress=True, threads=1), log=messages.append)
    assert {m for m in messages if "up to date" in m} == {"encode: up to date", "pretrain: up to date",
                                                          "train pop: up to date", "train: up to date"}
    config["pretrain"]["epochs"] = 2  # a changed step reruns, and so does what depends on it
    cfg_path.write_text(json.dumps(config))
    assert main(["run", str(cfg_path), "--no-progress", "--quiet"]) == 0
    assert json.loads((tmp_path / "work" / "pretrain" / "pretrain.json").read_text())["config"]["epochs"] == 2


def test_unknown_baseline_fails_before_any_work(tmp_path: Path, movielens: Path) -> None:
    config = {"workdir": str(tmp_path / "work"), "data": {"path": str(movielens)}, "baselines": ["no-such-model"]}
    with pytest.raises(ConfigError, match="no-such-model"):
        run_pipeline(PipelineConfig.from_dict(config), QUIET, log=lambda *_: None)
    assert not (tmp_path / "work").exists()
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**config, "baselines": "lightgcn"}))
    with pytest.raises(ConfigError, match="baselines"):
        PipelineConfig.load(path)


def test_quickstart_config_is_a_valid_pipeline_config(tmp_path: Path) -> None:
    config = quickstart_pipeline(tmp_path / "ml-100k", tmp_path / "work", tmp_path / "cache", 300, 20, 7)
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(to_dict(config)))
    loaded = PipelineConfig.load(path)
    assert loaded == config
    assert loaded.model == "alignrec" and loaded.baselines == ["lightgcn", "ease"]
    assert loaded.content.text == "minilm" and loaded.train.min_epochs == 50


def test_pipeline_with_k_core_drops_items_from_the_index_not_from_the_files(
        tmp_path: Path, movielens: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import alignrec.content.pretrain as pretrain_module

    ranked_items: list[int] = []  # how many items pre-training's validation selection ranks
    real_zero_shot = pretrain_module.zero_shot

    def counting_zero_shot(features: np.ndarray, dataset: object, *args: object, **kwargs: object) -> object:
        ranked_items.append(features.shape[0])
        return real_zero_shot(features, dataset, *args, **kwargs)

    monkeypatch.setattr(pretrain_module, "zero_shot", counting_zero_shot)
    data = _slice(movielens, tmp_path / "slice")
    config = {
        "workdir": str(tmp_path / "work"),
        "data": {"path": str(data), "split": "random", "rating_threshold": 4, "k_core": 5,
                 "cache_dir": str(tmp_path / "cache")},
        "content": {"text": "minilm"},
        "pretrain": {"epochs": 2, "width": 32, "out_dim": 16},  # selected on validation: its card holds the split
        "train": {"epochs": 2, "batch_size": 512}, "topk": [10],
    }
    summary = run_pipeline(PipelineConfig.from_dict(config), QUIET, log=lambda *_: None)
    folder = tmp_path / "work" / "dataset"
    assert np.load(folder / "unified_feat.npy").shape == (40, 16)  # a row per catalogue item
    dataset = load_run(tmp_path / "work" / "run").dataset
    dropped = dataset.report["items_dropped_by_k_core"]
    assert dropped > 0 and dataset.n_items == 40 - dropped
    assert dataset.features["unified"].shape == (dataset.n_items, 16)
    assert ranked_items and set(ranked_items) == {dataset.n_items}  # selection ranked what training ranks
    assert np.isfinite(summary["stage2"]["test"]["recall@10"])
