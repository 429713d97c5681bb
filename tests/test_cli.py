"""The CLI end to end on real data: train, evaluate, recommend, data info."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from alignrec import RunConfig, RuntimeOptions, train
from alignrec.cli import main
from alignrec.data import load_dataset
from alignrec.serving import load_run, recommend
from tests.conftest import RealData


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, real_data: RealData) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "real"
    code = main(["train", *real_data.cli_args(), "--model", "alignrec", "--epochs", "3", "--no-progress",
                 "--run-dir", str(run_dir), "--cache-dir", str(run_dir.parent / "cache")])
    assert code == 0
    return run_dir


def test_run_directory_contents(trained_run: Path, real_data: RealData) -> None:
    for name in ("config.json", "dataset.json", "epochs.jsonl", "last.pt", "best.pt", "metrics.json"):
        assert (trained_run / name).is_file(), name
    epochs = [json.loads(line) for line in (trained_run / "epochs.jsonl").read_text().splitlines()]
    assert len(epochs) == 3 and {"loss", "valid_recall@20", "train_seconds"} <= set(epochs[0])
    metrics = json.loads((trained_run / "metrics.json").read_text())
    popularity = train(RunConfig(data=real_data.config(), model="pop"), runtime=RuntimeOptions(progress=False))
    assert metrics["test"]["recall@20"] > popularity.test["recall@20"] > 0  # 3 epochs already beat popularity


def test_evaluate_recomputes_saved_metrics(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(trained_run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert out["metrics"]["recall@20"] == pytest.approx(saved["test"]["recall@20"], abs=1e-9)


def test_recommend_excludes_training_items(trained_run: Path, real_data: RealData,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    dataset = load_dataset(real_data.config())
    user = str(dataset.user_ids[0])
    assert main(["recommend", str(trained_run), "--user", user, "-k", "10", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows] == list(range(1, 11))
    train_items = {str(dataset.item_ids[i]) for i in dataset.train[dataset.train[:, 0] == 0, 1]}
    assert len(train_items) >= 3 and not train_items & {r["item"] for r in rows}
    assert all(r["text"] for r in rows)


def test_recommend_api_matches_model_scores(trained_run: Path) -> None:
    run = load_run(trained_run)
    users = [str(run.dataset.user_ids[i]) for i in (0, 5, 0)]  # a repeated user gets the same list
    rows = recommend(run, users, k=5)
    assert len(rows) == 15
    by_user = [rows[i * 5:(i + 1) * 5] for i in range(3)]
    assert [r["item"] for r in by_user[0]] == [r["item"] for r in by_user[2]]
    train = run.dataset.matrix("train")
    for raw, block in zip(users, by_user):
        u = run.dataset.user_index(raw)
        with torch.no_grad():
            scores = run.model.score(torch.tensor([u])).float().numpy()[0]
        scores[train[u].indices] = -np.inf
        expected = np.sort(scores)[::-1][:5]
        np.testing.assert_allclose([r["score"] for r in block], expected, rtol=1e-5)


def test_recommend_unknown_user(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", str(trained_run), "--user", "no-such-user"]) == 2
    assert "no-such-user" in capsys.readouterr().err


def test_existing_run_dir_needs_resume_or_overwrite(trained_run: Path, real_data: RealData,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *real_data.cli_args(), "--model", "alignrec", "--epochs", "3",
                 "--run-dir", str(trained_run)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_data_info(real_data: RealData, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", *real_data.cli_args(), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    facts = real_data.facts
    assert (info["stats"]["users"], info["stats"]["items"]) == (facts["users"], facts["items"])
    assert info["report"]["duplicates_removed"] == facts["duplicates_removed"]
    assert info["stats"]["features"] == facts["features"]


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["train"], ["evaluate"], ["recommend"], ["data", "info"], ["quickstart"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "example" in capsys.readouterr().out
