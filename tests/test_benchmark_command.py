"""alignrec benchmark: runs every model x dataset x seed once, resumes, and writes the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignrec.cli import main
from alignrec.runs.benchmark import leaderboard


def test_benchmark_runs_resumes_and_ranks(tiny_folder: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bench.json"
    config.write_text(json.dumps({"models": ["pop", "bpr"], "seeds": [1, 2],
                                  "datasets": [{"name": "tiny", "data": {"path": str(tiny_folder)},
                                                "train": {"epochs": 2}}]}))
    out = tmp_path / "out"
    assert main(["benchmark", str(config), "--out", str(out), "--threads", "1"]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert [(r["model"], r["seed"]) for r in board["runs"]] == [("pop", 1), ("pop", 2), ("bpr", 1), ("bpr", 2)]
    assert all(r["peak_rss_mb"] > 50 for r in board["runs"])  # each run's own process
    entries = {e["model"]: e for e in board["leaderboard"]}
    assert sum(e["best"] for e in entries.values()) == 1
    assert entries["pop"]["recall@20"]["values"] == [r["test"]["recall@20"] for r in board["runs"][:2]]
    assert "<img" in (out / "leaderboard.html").read_text() and (out / "leaderboard.csv").is_file()
    stamp = (out / "runs" / "tiny" / "bpr" / "seed-1" / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["benchmark", str(config), "--out", str(out), "--set", "seeds=1,2"]) == 0  # resumes: nothing reruns
    assert (out / "runs" / "tiny" / "bpr" / "seed-1" / "metrics.json").stat().st_mtime_ns == stamp
    assert "| tiny | bpr |" in capsys.readouterr().out


def test_finished_only_reports_what_has_run_and_runs_nothing(tiny_folder: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    dataset = {"name": "renamed", "data": {"path": str(tiny_folder)}, "train": {"epochs": 1}, "models": ["pop"]}
    config = tmp_path / "bench.json"
    config.write_text(json.dumps({"models": ["bpr"], "seeds": [1, 2], "datasets": [dataset]}))
    out = tmp_path / "out"
    assert main(["benchmark", str(config), "--out", str(out), "--finished-only"]) != 0
    assert "no finished runs" in capsys.readouterr().err
    assert not (out / "leaderboard.md").exists()
    assert main(["benchmark", str(config), "--out", str(out), "--set", "seeds=1"]) == 0  # the dataset's own models
    assert main(["benchmark", str(config), "--out", str(out), "--finished-only"]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert [(r["dataset"], r["model"], r["seed"]) for r in board["runs"]] == [("renamed", "pop", 1)]  # not the folder's
    runs = out / "runs" / "renamed"
    assert not (runs / "pop" / "seed-2").exists() and not (runs / "bpr").exists()


def test_significance_mark_against_the_best() -> None:
    def run(model: str, seed: int, recall: float) -> dict:
        return {"dataset": "d", "model": model, "seed": seed, "best_epoch": 1, "median_train_seconds_per_epoch": 0.1,
                "test": {"recall@10": recall, "recall@20": recall, "ndcg@10": recall, "ndcg@20": recall}}

    rows = [run("a", s, 0.30 + 0.001 * s) for s in range(5)] + [run("b", s, 0.20 + 0.001 * s) for s in range(5)]
    rows += [run("c", s, 0.30 + 0.01 * (-1) ** s) for s in range(5)]
    entries = {e["model"]: e for e in leaderboard(rows)}
    assert entries["a"]["best"] and entries["b"]["p_vs_best"] < 0.05 and entries["c"]["p_vs_best"] > 0.05
