"""Multi-process training under torchrun (gloo on the CPU) against one process on the same real data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from alignrec.training.distributed import launch_command
from tests.conftest import RealData


def train_command(real_data: RealData, run_dir: Path) -> list[str]:
    return ["alignrec", "train", *real_data.cli_args(), "--model", "lightgcn", "--epochs", "3", "--min-epochs", "3",
            "--no-progress", "--run-dir", str(run_dir)]


def test_two_processes_give_the_single_process_metrics(tmp_path: Path, real_data: RealData) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    single = subprocess.run([*train_command(real_data, tmp_path / "one"), "--threads", "1"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    double = subprocess.run([*launch_command(2), *train_command(real_data, tmp_path / "two")], env=env,
                            capture_output=True, text=True, timeout=600)
    assert double.returncode == 0, double.stderr[-3000:]
    assert double.stdout.count("run directory:") == 1  # process 0 reports, the other stays quiet
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["epochs_run"] == 3
    # BPR's loss is a mean over the batch, so averaging the two halves' gradients is the whole batch's gradient:
    # the same model up to float summation order
    for split in ("valid", "test"):
        assert two[split]["recall@20"] == pytest.approx(one[split]["recall@20"], abs=2e-3)
        assert two[split]["ndcg@20"] == pytest.approx(one[split]["ndcg@20"], abs=2e-3)
    lines = (tmp_path / "two" / "epochs.jsonl").read_text().splitlines()
    assert len(lines) == 3 and "valid_recall@20" in json.loads(lines[-1])
