"""Forgetting: removed items are never recommended, removed users are unknown, the original run is untouched,
an interrupted request leaves nothing half-written, bad requests fail before any work, and unlearning forgets."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from alignrec import RunConfig, RuntimeOptions, TrainConfig, train
from alignrec.cli import main
from alignrec.data.removal import interactions_keeping_every_user, items_keeping_every_user
from alignrec.errors import AlignRecError, DataError
from alignrec.evaluation.membership import auc, score_percentiles
from alignrec.runs import load_run
from alignrec.runs.forget import ForgetRequest, forget
from alignrec.serving import recommend
from alignrec.serving.bundle import load_bundle
from alignrec.training.unlearning import UnlearnConfig
from tests.conftest import RealData

QUIET = RuntimeOptions(progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, real_data: RealData) -> Path:
    run_dir = tmp_path_factory.mktemp("forget") / "original"
    config = RunConfig(data=real_data.config(), model="lightgcn", train=TrainConfig(epochs=8, lr=5e-3))
    train(config, run_dir=run_dir, runtime=QUIET)
    return run_dir


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder`` (a run directory holds its export in a subfolder)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def popular_items(run_dir: Path, n: int) -> list[str]:
    ds = load_run(run_dir).dataset
    order = np.argsort(-ds.item_popularity(), kind="stable")
    return [str(ds.item_ids[i]) for i in items_keeping_every_user(ds.train, order, n)]


def test_items_are_forgotten_content_and_all(trained: Path, tmp_path: Path) -> None:
    before = digest(trained)
    items = popular_items(trained, 5)
    out = tmp_path / "no-items"
    report = forget(trained, out, ForgetRequest(items=items), unlearn=UnlearnConfig(max_epochs=3), runtime=QUIET)
    assert digest(trained) == before  # the original run directory is byte-identical
    run = load_run(out)
    removed = set(run.dataset.removed_items.tolist())
    assert {str(run.dataset.item_ids[i]) for i in removed} == set(items)
    export = load_bundle(out)  # what alignrec serve reads: the removed items are there, emptied
    assert sorted(export.removed_items.tolist()) == sorted(removed)
    assert not any(export.item_text[i] for i in removed) and not export.item_embeddings[sorted(removed)].any()
    users = [str(u) for u in run.dataset.user_ids[np.unique(run.dataset.train[:, 0])]]
    shown = {row["item"] for row in recommend(run, users, k=50)}
    assert not shown & set(items)  # never recommended again
    assert not np.isin(run.dataset.test[:, 1], list(removed)).any() and not np.isin(run.dataset.train[:, 1],
                                                                                    list(removed)).any()
    for matrix in run.dataset.features.values():
        assert not matrix[list(removed)].any()  # their content is gone too
    assert report["removed"]["items"] == 5 and "membership_auc" in report["verification"]
    assert "request_sha256" in report and not any(i in json.dumps(report) for i in items if len(i) > 3)
    assert (out / "forget_report.md").is_file() and (out / "removal.npz").is_file()


def test_a_removed_user_is_unknown_and_interactions_unlearn(trained: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    ds = load_run(trained).dataset
    user = str(ds.user_ids[0])
    out = tmp_path / "no-user"
    assert main(["forget", str(trained), "--out", str(out), "--users", user, "--max-epochs", "2",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["recommend", str(out), "--user", user]) == 2
    assert "removed by a forget request" in capsys.readouterr().err

    pairs = interactions_keeping_every_user(ds.train, len(ds.train) // 20, np.random.default_rng(0))
    pairs_file = tmp_path / "pairs.tsv"
    pairs_file.write_text("user\titem\n" + "".join(f"{ds.user_ids[u]}\t{ds.item_ids[i]}\n" for u, i in pairs))
    unlearned = tmp_path / "no-pairs"
    report = forget(trained, unlearned, ForgetRequest(interactions=[tuple(line.split("\t")) for line in
                                                                    pairs_file.read_text().splitlines()[1:]]),
                    unlearn=UnlearnConfig(max_epochs=60), runtime=QUIET)
    assert main(["forget-check", str(unlearned), "--original", str(trained), "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    # reverse BPR pushed the forgotten pairs down to where unseen data sits; the original still ranks them high
    assert checked["this run"]["forget_recall@20"] < checked["original"]["forget_recall@20"]
    assert checked["this run"]["membership_auc"] < checked["original"]["membership_auc"]
    assert report["verification"]["forget_recall@20"] == pytest.approx(checked["this run"]["forget_recall@20"])
    history = [json.loads(line) for line in (unlearned / "epochs.jsonl").read_text().splitlines()]
    assert history[-1]["forget_recall@20"] <= history[-1]["valid_recall@20"] or len(history) == 60
    # there was something to forget: the original told the pairs from never-seen ones (forget recall is not compared
    # with test recall: it ranks among all items, the user's other training items included, so it is lower for users
    # with long histories, as on MovieLens)
    assert checked["original"]["membership_auc"] > 0.6


def test_bad_requests_fail_before_any_work(trained: Path, tmp_path: Path) -> None:
    ds = load_run(trained).dataset
    out = tmp_path / "bad"
    with pytest.raises(DataError, match="unknown user"):
        forget(trained, out, ForgetRequest(users=["no-such-user"]), runtime=QUIET)
    with pytest.raises(AlignRecError, match="empty"):
        forget(trained, out, ForgetRequest(items=[]), runtime=QUIET)
    u = int(ds.train[0, 0])
    all_of_u = [(str(ds.user_ids[u]), str(ds.item_ids[i])) for i in ds.train[ds.train[:, 0] == u, 1]]
    with pytest.raises(DataError, match="no training interaction left"):
        forget(trained, out, ForgetRequest(interactions=all_of_u), runtime=QUIET)
    with pytest.raises(DataError, match="not training interactions"):
        forget(trained, out, ForgetRequest(interactions=[(str(ds.user_ids[u]), str(ds.item_ids[ds.test[0, 1]]))]),
               runtime=QUIET)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".bad")]


def test_a_killed_forget_leaves_no_run_directory(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    users = ",".join(str(u) for u in load_run(trained).dataset.user_ids[:30])
    proc = subprocess.Popen([sys.executable, "-m", "alignrec", "forget", str(trained), "--out", str(out), "--users",
                             users, "--method", "retrain", "--threads", "1", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    deadline = time.time() + 120
    while not any((p / "last.pt").exists() for p in tmp_path.glob(".killed.partial-*")) and time.time() < deadline:
        assert proc.poll() is None, "forget finished before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # only a hidden partial folder is left, never a run directory at --out


def test_membership_attack_math() -> None:
    scores = np.array([[0.1, 0.5, 0.9, 0.3], [4.0, 1.0, 2.0, 3.0]])
    assert score_percentiles(scores, np.array([2, 1])).tolist() == [0.75, 0.0]
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.5
    assert auc(np.array([1.0]), np.array([2.0])) == 0.0
    with torch.no_grad():
        pass
