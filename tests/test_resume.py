"""A training run killed midway resumes to the same final metrics, also with other run-time options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, train
from alignrec.errors import RunDirError
from alignrec.runs.rundir import RunDirCheckpoints
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


def test_resume_with_other_runtime_options_continues(tiny_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads and progress output are not part of the experiment: a resume may change them."""
    config = RunConfig(data=DataConfig(path=str(tiny_folder)), model="bpr",
                       train=TrainConfig(epochs=8, patience=100, seed=3))
    quiet_one_thread = RuntimeOptions(threads=1, progress=False)
    reference = train(config, run_dir=tiny_folder.parent / "reference", runtime=quiet_one_thread)

    crash_after = {"epoch": 2}
    original = RunDirCheckpoints.save_last

    def crashing_save_last(self: RunDirCheckpoints, state: dict) -> None:
        original(self, state)
        if state["state"]["epoch"] == crash_after["epoch"]:
            raise KeyboardInterrupt  # the process dies right after epoch 2 was saved

    run_dir = tiny_folder.parent / "interrupted"
    monkeypatch.setattr(RunDirCheckpoints, "save_last", crashing_save_last)
    with pytest.raises(KeyboardInterrupt):
        train(config, run_dir=run_dir, runtime=quiet_one_thread)
    monkeypatch.setattr(RunDirCheckpoints, "save_last", original)
    assert len((run_dir / "epochs.jsonl").read_text().splitlines()) == 3

    resumed = train(config, run_dir=run_dir, resume=True, runtime=RuntimeOptions(threads=2, progress=True))
    assert len(resumed.history) == 8 and resumed.best_epoch == reference.best_epoch
    assert resumed.test == pytest.approx(reference.test)
    with pytest.raises(RunDirError, match="different configuration"):
        train(RunConfig(data=config.data, model="bpr", train=TrainConfig(epochs=9, patience=100, seed=3)),
              run_dir=run_dir, resume=True)
