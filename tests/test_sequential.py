"""The sequential track: ordered leave-one-out data, the interface extension, SASRec and LRURec, end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from alignrec.cli import main
from alignrec.config import DataConfig
from alignrec.data import load_dataset
from alignrec.data.sequences import (
    PAD,
    Sequences,
    append_items,
    chronological_order,
    history_before,
    last_items,
    sample_negatives,
    training_windows,
    user_sequences,
)
from alignrec.errors import ConfigError, DataError
from alignrec.evaluation import rank_next_items
from alignrec.models import build_model
from alignrec.models.sequential import lru_recurrence, lru_scan
from alignrec.runs import RunConfig
from tests.conftest import SCI, require, write_mmrec


def brute_sequences(pairs: np.ndarray, n_users: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n_users)]
    for u, i in pairs:
        out[u].append(int(i))
    return out


def test_sequences_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    pairs = np.stack([rng.integers(0, 7, 60), rng.integers(0, 20, 60)], axis=1)
    seqs = user_sequences(pairs, 8)  # user 7 has none
    brute = brute_sequences(pairs, 8)
    assert [seqs.of(u).tolist() for u in range(8)] == brute
    extra = np.array([[3, 99], [7, 98], [3, 97]])
    grown = append_items(seqs, extra)
    assert grown.of(3).tolist() == brute[3] + [99, 97] and grown.of(7).tolist() == [98]
    hist, lengths = last_items(seqs, np.arange(8), 4)
    for u in range(8):
        tail = brute[u][-4:]
        assert lengths[u] == len(tail)
        assert hist[u].tolist() == [PAD] * (4 - len(tail)) + tail  # right-aligned, padded on the left
    inputs, targets = training_windows(seqs, np.arange(8), 3)
    for u in range(8):
        window = brute[u][-4:]
        pairs_u = [(a, b) for a, b in zip(inputs[u], targets[u]) if a != PAD]
        assert pairs_u == list(zip(window[:-1], window[1:]))
        assert all(t == PAD for a, t in zip(inputs[u], targets[u]) if a == PAD)
    neg = sample_negatives(seqs, np.arange(8), (8, 5), 20, rng)
    assert not any(n in brute[u] for u in range(8) for n in neg[u])


def test_chronological_order_breaks_ties_by_file_order() -> None:
    stamps = np.array([5.0, 1.0, 5.0, 1.0, 0.0])
    assert chronological_order(5, stamps).tolist() == [4, 1, 3, 0, 2]
    assert chronological_order(3, None).tolist() == [0, 1, 2]


def check_leave_one_out(dataset: object, last_of_user: dict[int, int]) -> None:
    """Each user's last interaction is test, never in training or validation inputs; histories never hold
    their target."""
    ds = dataset  # type: ignore[assignment]
    test = dict(map(tuple, ds.test.tolist()))
    assert test == {u: i for u, i in last_of_user.items() if u in test}
    assert len(test) == len(ds.test)  # one test item per user
    train_seqs = user_sequences(ds.train, ds.n_users)
    valid_hist = history_before(ds.train, ds.valid, "valid", ds.n_users)
    test_hist = history_before(ds.train, ds.valid, "test", ds.n_users)
    for u, item in test.items():
        assert item not in train_seqs.of(u) and item not in test_hist.of(u)
    for u, item in ds.valid.tolist():
        assert item not in valid_hist.of(u)
        assert test_hist.of(u)[-1] == item  # the test history ends with the valid item


def test_leave_one_out_on_movielens(movielens: Path) -> None:
    dataset = load_dataset(DataConfig(path=str(movielens), split="leave_one_out"), use_cache=False)
    frame = pd.read_csv(movielens / "ml-100k.inter", sep="\t")
    frame.columns = ["user", "item", "rating", "ts"]
    frame["line"] = np.arange(len(frame))
    last = frame.sort_values(["ts", "line"], kind="stable").groupby("user").tail(1)
    users = {raw: u for u, raw in enumerate(dataset.user_ids)}
    items = {raw: i for i, raw in enumerate(dataset.item_ids)}
    check_leave_one_out(dataset, {users[str(u)]: items[str(i)] for u, i in zip(last.user, last.item)})
    assert dataset.report["split"] == "leave_one_out"


def test_leave_one_out_on_amazon_uses_its_labels() -> None:
    folder = require(SCI)
    dataset = load_dataset(DataConfig(path=str(folder), split="leave_one_out"), use_cache=False)
    labelled = load_dataset(DataConfig(path=str(folder), split="labels"), use_cache=False)
    for part in ("train", "valid", "test"):  # the same pairs; the sequential split keeps them in time order
        pairs, expected = (sorted(map(tuple, getattr(d, part).tolist())) for d in (dataset, labelled))
        assert pairs == expected
    frame = pd.read_csv(folder / "amazon-scientific.inter", sep="\t")
    last = frame.groupby("userID").tail(1)
    check_leave_one_out(dataset, dict(zip(last.userID.tolist(), last.itemID.tolist())))


def test_labels_out_of_time_order_are_refused(tmp_path: Path) -> None:
    rows = [(0, 0, 1, 0, 0), (0, 1, 1, 1, 2), (0, 2, 1, 2, 0), (1, 0, 1, 0, 0), (1, 1, 1, 1, 1), (1, 2, 1, 2, 2)]
    folder = write_mmrec(tmp_path / "bad", rows)
    with pytest.raises(DataError, match="line 4"):
        load_dataset(DataConfig(path=str(folder), split="leave_one_out"), use_cache=False)


def test_track_pairing_is_checked(movielens: Path) -> None:
    data = {"path": str(movielens)}
    assert RunConfig.from_dict({"data": data, "model": "sasrec"}).data.split == "leave_one_out"
    assert RunConfig.from_dict({"data": data, "model": "bpr"}).data.split == "auto"
    with pytest.raises(ConfigError, match="sequential track"):
        RunConfig.from_dict({"data": {**data, "split": "random"}, "model": "lrurec"})
    with pytest.raises(ConfigError, match="general track"):
        RunConfig.from_dict({"data": {**data, "split": "leave_one_out"}, "model": "lightgcn"})


def test_lru_scan_equals_the_recurrence() -> None:
    torch.manual_seed(0)
    for length in (1, 2, 7, 50):
        lam = torch.polar(torch.rand(16) * 0.2 + 0.79, torch.rand(16) * 6.28)
        b = torch.complex(torch.randn(3, length, 16), torch.randn(3, length, 16))
        assert torch.allclose(lru_scan(lam, b), lru_recurrence(lam, b), atol=1e-5)


def test_history_exclusion_is_an_option() -> None:
    history = Sequences(np.array([0, 2, 4]), np.array([0, 1, 2, 3]))
    targets = np.array([[0, 4], [1, 5]])

    def favour_history(hist: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        scores = torch.zeros(len(hist), 6)
        scores[:, 4:] = 1.0  # the targets second, behind every history item
        return scores.scatter(1, hist.clamp(min=0), 2.0)

    kept = rank_next_items(favour_history, history, targets, 6, [1, 3], 2, exclude_history=False)
    dropped = rank_next_items(favour_history, history, targets, 6, [1, 3], 2, exclude_history=True)
    assert kept.means["recall@1"] == 0.0 and dropped.means["recall@3"] == 1.0 and dropped.means["hit@1"] == 0.5


@pytest.fixture(scope="module")
def amazon() -> object:
    return load_dataset(DataConfig(path=str(require(SCI)), split="leave_one_out"), use_cache=False)


@pytest.mark.parametrize("name", ["sasrec", "lrurec"])
def test_no_future_leakage(amazon: object, name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, amazon, {"max_len": 20}).eval()
    hist, _ = last_items(user_sequences(amazon.train, amazon.n_users), np.arange(64), 20)
    hist = torch.from_numpy(hist)
    altered = hist.clone()
    altered[:, 12:] = torch.randint(0, amazon.n_items, (64, 8))
    with torch.no_grad():  # a position's state reads only earlier positions
        assert torch.allclose(model.encode(hist)[:, :12], model.encode(altered)[:, :12], atol=1e-5)
        users = torch.arange(amazon.n_users)
        before = model.score(users)
        valid_before = model.rank_split(amazon, "valid", [10]).per_user["recall@10"]
    rng = np.random.default_rng(1)  # alter what comes after the targets: the test items
    future = replace(amazon, test=np.stack([amazon.test[:, 0], rng.integers(0, amazon.n_items, len(amazon.test))], 1))
    other = build_model(name, future, {"max_len": 20}).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(other.score(users), before)
        assert np.array_equal(other.rank_split(future, "valid", [10]).per_user["recall@10"], valid_before)


def test_train_and_evaluate_end_to_end(tmp_path: Path, movielens: Path) -> None:
    folder = require(SCI)
    run = tmp_path / "sas"
    assert main(["train", str(folder), "--model", "sasrec", "--epochs", "2", "--min-epochs", "0", "--batch-size",
                 "256", "--no-progress", "--threads", "1", "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["track"] == "sequential" and metrics["exclude_history"] is True and metrics["max_len"] == 50
    assert json.loads((run / "config.json").read_text())["data"]["split"] == "leave_one_out"
    assert metrics["test"]["recall@20"] > 0.02  # popularity-level at least, after two epochs
    from alignrec.runs import evaluate_run, load_run

    again = evaluate_run(load_run(run), "test").means
    assert again["ndcg@10"] == pytest.approx(metrics["test"]["ndcg@10"], abs=1e-6)
    assert main(["evaluate", str(run), "--json"]) == 0
    ml = tmp_path / "lru-ml"
    assert main(["train", str(movielens), "--model", "lrurec", "--epochs", "1", "--min-epochs", "0", "--no-progress",
                 "--threads", "1", "--run-dir", str(ml), "--param", "max_len=20"]) == 0
    assert json.loads((ml / "metrics.json").read_text())["test"]["recall@20"] > 0.0
