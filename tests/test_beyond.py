"""Beyond-accuracy metrics, slices and the cold-start split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignrec.config import DataConfig
from alignrec.data import Dataset
from alignrec.data.cold_start import cold_item_split
from alignrec.data.split import TEST, TRAIN, VALID
from alignrec.errors import ConfigError
from alignrec.evaluation.beyond import (
    average_popularity,
    beyond_accuracy,
    cold_start_metrics,
    coverage_at_k,
    gini_index,
    head_items,
    long_tail_share,
    recommendation_gini,
)
from alignrec.evaluation.evaluator import hit_matrix
from alignrec.evaluation.metrics import per_user_metrics
from alignrec.evaluation.slices import activity_labels, activity_slices, popularity_labels, popularity_slices


def test_gini_of_uniform_list_is_zero_and_of_one_item_is_maximal() -> None:
    assert gini_index(np.full(10, 3)) == pytest.approx(0.0)
    top = np.array([[0, 1], [2, 3], [4, 5]])  # every catalogue item recommended once
    assert recommendation_gini(top, 6, 2) == pytest.approx(0.0)
    assert gini_index(np.array([0, 0, 0, 5])) == pytest.approx(3 / 4)
    assert gini_index(np.zeros(4)) == 0.0


def test_coverage_popularity_and_long_tail() -> None:
    top = np.array([[0, 1, 2], [0, 3, 4]])
    popularity = np.array([10, 8, 1, 1, 0, 0, 0, 0, 0, 0])
    assert coverage_at_k(top, 10, 1) == pytest.approx(0.1)
    assert coverage_at_k(top, 10, 3) == pytest.approx(0.5)
    assert average_popularity(top, popularity, 2) == pytest.approx(((10 + 8) / 2 + (10 + 1) / 2) / 2)
    head = head_items(popularity, 0.2)
    assert head.tolist() == [True, True] + [False] * 8
    assert long_tail_share(top, popularity, 3) == pytest.approx(3 / 6)  # items 2, 3, 4
    out = beyond_accuracy(top, popularity, [1, 3])
    assert set(out) == {f"{m}@{k}" for m in ("coverage", "gini", "avg_popularity", "long_tail") for k in (1, 3)}


def test_activity_slices() -> None:
    counts = np.array([0, 1, 3, 4, 9, 10, 50])
    assert activity_labels(counts).tolist() == ["", "1-3", "1-3", "4-9", "4-9", "10+", "10+"]
    per_user = {"recall@5": np.array([0.0, 1.0, 0.5, 0.2])}
    users = np.array([1, 2, 3, 5])
    out = activity_slices(per_user, users, counts)
    assert out["1-3"] == {"users": 2.0, "recall@5": 0.5}
    assert out["4-9"]["recall@5"] == pytest.approx(0.5) and out["10+"]["recall@5"] == pytest.approx(0.2)


def test_popularity_slices_match_manual_restriction() -> None:
    popularity = np.array([50, 40, 30, 20, 10, 5, 3, 2, 1, 0])
    labels = popularity_labels(popularity)
    assert labels.tolist() == ["head", "head", "mid", "mid", "mid", "tail", "tail", "tail", "tail", "cold"]
    ds = Dataset("t", 2, 10, np.array([[0, 0], [1, 1]]), np.zeros((0, 2), dtype=np.int64),
                 np.array([[0, 1], [0, 9], [1, 5]]), np.array(["a", "b"]), np.arange(10).astype(str))
    truth = ds.matrix("test")
    top = np.array([[1, 2, 3], [4, 5, 6]])
    users = np.array([0, 1])
    out = popularity_slices(top, users, truth, labels, [3])
    assert out["head"]["users"] == 1 and out["head"]["recall@3"] == 1.0
    assert out["cold"]["recall@3"] == 0.0 and out["tail"]["recall@3"] == 1.0
    assert "mid" not in out
    # Every test item in one bucket: the slice equals the overall metric.
    overall = per_user_metrics(hit_matrix(top, users, truth), np.diff(truth.indptr), [3])
    all_one = popularity_slices(top, users, truth, np.full(10, "head", dtype=object), [3])
    assert all_one["head"]["recall@3"] == pytest.approx(overall["recall@3"].mean())


def test_cold_item_split_keeps_cold_items_out_of_training() -> None:
    rng = np.random.default_rng(0)
    items = rng.integers(0, 40, size=500)
    labels = rng.choice([TRAIN, VALID, TEST], size=500, p=[0.8, 0.1, 0.1]).astype(np.int8)
    new, cold = cold_item_split(items, labels, 0.25, seed=1)
    assert len(cold) == 10
    is_cold = np.isin(items, cold)
    assert not (new[is_cold] == TRAIN).any()
    assert (new[~is_cold] == labels[~is_cold]).all()
    valid_items, test_items = set(items[is_cold & (new == VALID)]), set(items[is_cold & (new == TEST)])
    assert valid_items.isdisjoint(test_items)
    same, _ = cold_item_split(items, labels, 0.25, seed=1)
    assert (same == new).all()
    with pytest.raises(ConfigError):
        DataConfig(cold_item_fraction=1.0)


def test_cold_start_metrics_rank_only_cold_items() -> None:
    train = np.array([[0, 0], [0, 1], [1, 1], [1, 2]])
    test = np.array([[0, 4], [1, 3], [1, 2]])
    ds = Dataset("t", 2, 6, train, np.zeros((0, 2), dtype=np.int64), test, np.array(["a", "b"]),
                 np.arange(6).astype(str))

    def score(users: torch.Tensor) -> torch.Tensor:  # prefers warm items, then item 4, 3, 5
        return torch.tensor([[9.0, 9.0, 9.0, 1.0, 2.0, 0.0]]).repeat(len(users), 1)

    means, n_users = cold_start_metrics(score, ds, "test", [1, 2, 3, 10])
    assert n_users == 2
    assert means["recall@1"] == pytest.approx(0.5)  # user 0 hits item 4, user 1 needs item 3
    assert means["recall@2"] == pytest.approx(1.0)
    assert "recall@3" not in means and "recall@10" not in means  # trivial with 3 cold candidates
