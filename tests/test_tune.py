"""alignrec tune: validation-only search, a sealed test split, a resumable study, a config train accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig
from alignrec.cli import main
from alignrec.data.dataset import SealedSplit
from alignrec.errors import ConfigError, DataError
from alignrec.runs import tune as tune_module
from alignrec.runs.tune import TuneConfig, search_space, tune

SPACE = {"train.lr": [0.001, 0.005], "params.reg_weight": [0.0, 0.0001]}
QUIET = RuntimeOptions(progress=False)


def base(folder: Path) -> RunConfig:
    return RunConfig(data=DataConfig(path=str(folder)), model="bpr", train=TrainConfig(epochs=3))


def test_search_writes_a_config_train_accepts_and_resumes(tiny_folder: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "study.sqlite"
    summary = tune(base(tiny_folder), TuneConfig(trials=2, sampler="grid", storage=str(storage), prune=False),
                   tmp_path / "out", SPACE, QUIET)
    assert summary["trials"] == {"complete": 2, "pruned": 0, "repeats": 0}
    assert set(summary["best_params"]) == set(SPACE) and summary["winner"]["test"]
    again = tune(base(tiny_folder), TuneConfig(trials=3, sampler="grid", storage=str(storage), prune=False),
                 tmp_path / "out", SPACE, QUIET)
    assert again["trials"]["complete"] == 3  # one more trial, the first two came from the stored study
    assert len((tmp_path / "out" / "trials.csv").read_text().splitlines()) == 1 + 3
    best = json.loads((tmp_path / "out" / "best_config.json").read_text())
    assert best["params"]["reg_weight"] == again["best_params"]["params.reg_weight"]
    assert main(["train", "--config", str(tmp_path / "out" / "best_config.json"), "--run-dir",
                 str(tmp_path / "again"), "--no-progress"]) == 0


def test_the_search_never_reads_the_test_split(tiny_folder: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    original_train = tune_module.train

    def watching_train(config: RunConfig, **kwargs: object):  # type: ignore[no-untyped-def]
        seen.append((kwargs.get("run_dir") is None, isinstance(kwargs["dataset"].test, SealedSplit)))
        return original_train(config, **kwargs)

    monkeypatch.setattr(tune_module, "train", watching_train)
    tune(base(tiny_folder), TuneConfig(trials=2, sampler="grid", prune=False), tmp_path / "out", SPACE, QUIET)
    assert seen[:-1] == [(True, True), (True, True)]  # every trial ran on the sealed copy
    assert seen[-1] == (False, False)  # the winner, trained once more, is the only read of the test split

    def leaking_train(config: RunConfig, **kwargs: object):  # type: ignore[no-untyped-def]
        return original_train(config, **{**kwargs, "evaluate_test": True})

    monkeypatch.setattr(tune_module, "train", leaking_train)
    with pytest.raises(DataError, match="test split is sealed"):
        tune(base(tiny_folder), TuneConfig(trials=1, prune=False), tmp_path / "leak", SPACE, QUIET)


def test_spaces_are_declared_and_checked() -> None:
    assert "params.align_weight" in search_space("alignrec") and "params.dropout" in search_space("freedom")
    with pytest.raises(ConfigError, match="declares no search space"):
        search_space("pop")
    with pytest.raises(ConfigError, match="paths start with"):
        search_space("bpr", {"lr": [0.1]})


def test_a_repeated_proposal_is_not_trained_again_and_a_spent_grid_ends_the_search(
        tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = []
    original_train = tune_module.train

    def counting_train(config: RunConfig, **kwargs: object):  # type: ignore[no-untyped-def]
        trained.append((config.train.lr, config.params.reg_weight))  # type: ignore[attr-defined]
        return original_train(config, **kwargs)

    monkeypatch.setattr(tune_module, "train", counting_train)
    space = {"train.lr": [0.001, 0.005], "params.reg_weight": [0.0]}  # two configurations only
    summary = tune(base(tiny_folder), TuneConfig(trials=6, sampler="random", prune=False, seed=2020), tmp_path / "out",
                   space, QUIET)
    searched = trained[:-1]  # the last training is the winner's
    assert sorted(searched) == [(0.001, 0.0), (0.005, 0.0)]
    assert summary["trials"]["complete"] == 2 and summary["trials"]["repeats"] >= 1  # seeded: it proposes repeats
    rows = (tmp_path / "out" / "trials.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 + summary["trials"]["repeats"]
    assert all(",repeat of " in row for row in rows if ",complete," not in row)
