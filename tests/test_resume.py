"""A training run killed midway (a real separate process) resumes to the same final metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import RealData

EPOCHS = 10


def train_cmd(data: RealData, run_dir: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "alignrec", "train", *data.cli_args(), "--model", "alignrec", "--epochs", str(EPOCHS),
            "--patience", "100", "--threads", "1", "--seed", "7", "--no-progress", "--run-dir", str(run_dir),
            "--cache-dir", str(cache), *extra]


def epochs_logged(run_dir: Path) -> int:
    path = run_dir / "epochs.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_killed_run_resumes_to_same_metrics(tmp_path: Path, real_data: RealData) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    reference = tmp_path / "reference"
    subprocess.run(train_cmd(real_data, reference, cache), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(real_data, killed, cache), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while epochs_logged(killed) < 4 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = epochs_logged(killed)
    assert 4 <= stopped_at < EPOCHS
    assert not (killed / "metrics.json").exists()

    subprocess.run(train_cmd(real_data, killed, cache, "--resume"), check=True, env=env, capture_output=True)

    ref_metrics = json.loads((reference / "metrics.json").read_text())
    new_metrics = json.loads((killed / "metrics.json").read_text())
    assert new_metrics["best_epoch"] == ref_metrics["best_epoch"]
    assert new_metrics["test"] == ref_metrics["test"]
    assert new_metrics["valid"] == ref_metrics["valid"]
    assert epochs_logged(killed) == EPOCHS
