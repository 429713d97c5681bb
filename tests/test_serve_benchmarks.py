"""The serving benchmarks run end to end at their smallest settings (the numbers mean nothing here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from alignrec.serving.bundle import load_bundle
from alignrec.serving.process import ServerProcess
from tests.conftest import SERVE_KEY, RealData
from tests.test_benchmarks import BENCH, run
from tests.test_report import INSTALL_CHROMIUM


def test_serve_load(tmp_path: Path, serve_server: ServerProcess) -> None:
    out = tmp_path / "load"
    run(tmp_path, str(BENCH / "serve_load.py"), "--url", f"ml={serve_server.url}", "--users", "2", "--seconds", "3",
        "--out", str(out), env={"ALIGNREC_API_KEY": SERVE_KEY})
    level = json.loads(out.with_suffix(".json").read_text())["runs"]["ml"]["levels"][0]
    assert level["concurrent_users"] == 2 and level["requests"] > 0 and level["server_5xx"] == 0
    assert level["failures"] == 0 and "GET /users/{id}/recommendations" in level["endpoints"]
    assert "| ml | 2 |" in out.with_suffix(".md").read_text()


def test_ann_recall(tmp_path: Path, real_data: RealData, serve_run: Path) -> None:
    out = tmp_path / "ann"
    run(tmp_path, str(BENCH / "ann_recall.py"), "--data", str(real_data.path), "--feature", "text", "--queries", "30",
        "--threads", "1", "--runs", str(serve_run), "--out", str(out))
    result = json.loads(out.with_suffix(".json").read_text())
    assert [r["index"] for r in result["indexes"]][:2] == ["exact", "hnsw M=32"]
    assert all(0.0 <= r["recall@20_items"] <= 1.0 for r in result["indexes"])
    assert result["indexes"][0]["recall@20_users"] == 1.0
    check = result["runs"][0]
    assert check["identical_top_k_users"] >= 0.99 * check["users"]


def test_serve_screenshot(tmp_path: Path, serve_run: Path, serve_server: ServerProcess) -> None:
    if shutil.which("chromium") is None:
        pytest.skip(f"chromium is not installed; install it with: {INSTALL_CHROMIUM}")
    user = str(load_bundle(serve_run).user_ids[0])
    out = tmp_path / "page.png"
    printed = run(tmp_path, str(BENCH / "serve_screenshot.py"), "--url", serve_server.url, "--api-key", SERVE_KEY,
                  "--user", user, "--height", "600", "--out", str(out))
    assert out.stat().st_size > 10_000 and "KB" in printed
