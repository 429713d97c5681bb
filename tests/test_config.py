"""The one config dialect: typed trees from JSON/TOML files, --set / --param overrides, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignrec.config import (
    DataConfig,
    TrainConfig,
    apply_overrides,
    build_dataclass,
    load_config_file,
    model_params,
    to_dict,
)
from alignrec.errors import ConfigError
from alignrec.models.alignrec import AlignRecParams
from alignrec.runs import RunConfig
from alignrec.runs.pipeline import PipelineConfig


def test_overrides_are_parsed_into_the_field_types() -> None:
    raw = apply_overrides({"model": "alignrec"}, ["align_weight=0.05", "knn_k=5", "feature=none"], prefix="params.")
    raw = apply_overrides(raw, ["train.lr=0.002", "train.min_epochs=3", "data.features=image,text", "topk=10,20"])
    config = RunConfig.from_dict(raw)
    assert isinstance(config.params, AlignRecParams)
    assert (config.params.align_weight, config.params.knn_k, config.params.feature) == (0.05, 5, None)
    assert (config.train.lr, config.train.min_epochs) == (0.002, 3)
    assert config.data.features == ["image", "text"] and config.topk == [10, 20]
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config  # a round trip through a file


def test_model_params_keeps_one_models_assignments_and_rejects_those_without_a_model() -> None:
    assignments = ["alignrec:knn_k=10", "LightGCN:n_layers=2", "alignrec:feature=none"]
    assert model_params(assignments, "alignrec") == {"knn_k": "10", "feature": "none"}
    assert model_params(assignments, "lightgcn") == {"n_layers": "2"}
    assert model_params(assignments, "bpr") == {}
    with pytest.raises(ConfigError, match="'knn_k=10': expected MODEL:NAME=VALUE"):
        model_params(["knn_k=10"], "alignrec")


def test_typos_and_wrong_types_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"train: unknown field\(s\) \['epochz'\]"):
        RunConfig.from_dict({"train": {"epochz": 3}})
    with pytest.raises(ConfigError, match=r"params \(alignrec\).knn_k: cannot read 'ten' as int"):
        RunConfig.from_dict(apply_overrides({}, ["params.knn_k=ten"]))
    with pytest.raises(ConfigError, match=r"train.epochs: expected int, got '5'"):
        RunConfig.from_dict({"train": {"epochs": "5"}})  # a file's string is not silently parsed
    with pytest.raises(ConfigError, match="baselines: expected a list"):
        PipelineConfig.from_dict({"workdir": "w", "data": {"path": "d"}, "baselines": "lightgcn"})
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        RunConfig(model="nope")
    with pytest.raises(ConfigError, match="must be AlignRecParams"):
        RunConfig(model="alignrec", params=TrainConfig())


def test_run_time_options_of_old_run_directories_are_dropped() -> None:
    config = RunConfig.from_dict({"model": "bpr", "train": {"epochs": 4, "threads": 2, "progress": False,
                                                              "device": "cpu"}})
    assert config.train == TrainConfig(epochs=4)
    assert "threads" not in config.to_dict()["train"]


def test_toml_and_json_files_give_the_same_tree(tmp_path: Path) -> None:
    toml = tmp_path / "pipeline.toml"
    toml.write_text('workdir = "w"\nbaselines = ["lightgcn"]\n[data]\npath = "d"\nrating_threshold = 4\n'
                    '[import]\nformat = "book-crossing"\nmax_ratings = 100\n[train]\nepochs = 5\n')
    from_toml = PipelineConfig.load(toml, ["train.patience=7"])
    (tmp_path / "pipeline.json").write_text(json.dumps(to_dict(from_toml)))
    from_json = PipelineConfig.load(tmp_path / "pipeline.json")
    assert from_toml == from_json
    assert from_toml.import_ is not None and from_toml.import_.max_ratings == 100
    assert from_toml.data.rating_threshold == 4.0 and from_toml.train.patience == 7
    assert to_dict(from_toml)["import"]["format"] == "book-crossing"  # the keyword field keeps its file key
    (tmp_path / "bad.toml").write_text("[data\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config_file(tmp_path / "bad.toml")


def test_data_config_from_cli_strings() -> None:
    data = build_dataclass(DataConfig, apply_overrides({"path": "x"}, ["rating_threshold=none", "k_core=5"]), "data")
    assert data.rating_threshold is None and data.k_core == 5


def test_run_written_before_item_dropping_keeps_its_catalogue(tmp_path: Path) -> None:
    """A run trained before k-core dropped filtered items from the index was sized by the whole catalogue; its
    config (no ``keep_filtered_items``) must load that way, and a new config gets the compact index."""
    from alignrec.runs import rundir
    from alignrec.runs.config import RunConfig

    raw = RunConfig(data=DataConfig(path=str(tmp_path), k_core=10), model="bpr").to_dict()
    assert raw["data"]["keep_filtered_items"] is False
    del raw["data"]["keep_filtered_items"]
    (tmp_path / rundir.CONFIG).write_text(json.dumps(raw))
    assert rundir.read_config(tmp_path).data.keep_filtered_items is True
    raw["data"]["k_core"] = 0
    (tmp_path / rundir.CONFIG).write_text(json.dumps(raw))
    assert rundir.read_config(tmp_path).data.keep_filtered_items is False
