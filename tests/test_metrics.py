"""Ranking metrics against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from alignrec.evaluation.evaluator import hit_matrix, rank_and_evaluate, top_k_items
from alignrec.evaluation.metrics import (
    METRIC_FUNCTIONS,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    per_user_metrics,
    precision_at_k,
    recall_at_k,
)

# user 0: 3 test items, hits at ranks 1 and 3 of 5; user 1: 1 test item, hit at rank 2.
HITS = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]], dtype=bool)
N_REL = np.array([3, 1])


def test_recall_precision_hit() -> None:
    assert recall_at_k(HITS, N_REL, 5) == pytest.approx([2 / 3, 1.0])
    assert recall_at_k(HITS, N_REL, 1) == pytest.approx([1 / 3, 0.0])
    assert precision_at_k(HITS, N_REL, 5) == pytest.approx([2 / 5, 1 / 5])
    assert hit_rate_at_k(HITS, N_REL, 1) == pytest.approx([1.0, 0.0])


def test_ndcg_by_hand() -> None:
    # user 0: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG (3 relevant) = 1 + 1/log2(3) + 1/2
    idcg0 = 1 + 1 / np.log2(3) + 0.5
    # user 1: DCG = 1/log2(3); IDCG (1 relevant) = 1
    assert ndcg_at_k(HITS, N_REL, 5) == pytest.approx([1.5 / idcg0, 1 / np.log2(3)])


def test_map_by_hand() -> None:
    # user 0: precision at hit ranks 1 and 3 = 1 and 2/3, divided by min(3, 5) = 3
    assert map_at_k(HITS, N_REL, 5) == pytest.approx([(1 + 2 / 3) / 3, 0.5])


def test_fewer_test_items_than_k() -> None:
    # 1 relevant item at rank 1 with K = 5: recall 1, ndcg 1, precision 1/5, map 1
    hits = np.array([[1, 0, 0, 0, 0]], dtype=bool)
    n_rel = np.array([1])
    assert recall_at_k(hits, n_rel, 5)[0] == pytest.approx(1.0)
    assert ndcg_at_k(hits, n_rel, 5)[0] == pytest.approx(1.0)
    assert precision_at_k(hits, n_rel, 5)[0] == pytest.approx(0.2)
    assert map_at_k(hits, n_rel, 5)[0] == pytest.approx(1.0)
    # 2 relevant, both at the top with K = 5: ideal list, ndcg 1
    hits2 = np.array([[1, 1, 0, 0, 0]], dtype=bool)
    assert ndcg_at_k(hits2, np.array([2]), 5)[0] == pytest.approx(1.0)


def test_full_ranking_excludes_training_items() -> None:
    # 1 user, 4 items; scores favour item 0 (a training item) then 3, 2, 1; test item is 3.
    scores = torch.tensor([[9.0, 1.0, 2.0, 3.0]])
    train = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 0, 1]], dtype=np.float32))
    ranking = rank_and_evaluate(lambda u: scores[u], test, train, [1, 2])
    means, users = ranking.means, ranking.users
    assert means["recall@1"] == 1.0 and means["ndcg@1"] == 1.0
    assert list(users) == [0]


def test_hit_matrix_lookup() -> None:
    truth = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0]], dtype=np.float32))
    top = np.array([[3, 0], [1, 0]])
    assert hit_matrix(top, np.array([0, 1]), truth).tolist() == [[True, False], [False, True]]


def test_hit_matrix_in_row_blocks_matches_membership(monkeypatch: pytest.MonkeyPatch) -> None:
    from alignrec.evaluation import evaluator

    rng = np.random.default_rng(3)
    truth = sp.random(40, 30, density=0.2, random_state=4, format="csr")
    users = rng.permutation(40)[:25]
    top = np.stack([rng.permutation(30)[:6] for _ in users])
    expected = [[item in set(truth[u].indices) for item in row] for u, row in zip(users, top, strict=True)]
    monkeypatch.setattr(evaluator, "HIT_BLOCK_BYTES", 30 * 4)  # blocks of 4 users
    assert hit_matrix(top, users, truth).tolist() == expected


def test_per_user_metrics_equal_the_metric_functions() -> None:
    rng = np.random.default_rng(5)
    hits = rng.random((200, 50)) < 0.1
    n_relevant = rng.integers(0, 60, size=200)  # users without test items, and with more than k
    hits[n_relevant == 0] = False
    got = per_user_metrics(hits, n_relevant, [1, 5, 20, 50])
    assert list(got) == [f"{name}@{k}" for k in [1, 5, 20, 50] for name in METRIC_FUNCTIONS]
    for key, values in got.items():
        name, k = key.split("@")
        np.testing.assert_allclose(values, METRIC_FUNCTIONS[name](hits, n_relevant, int(k)), rtol=1e-12)


def test_k_larger_than_catalogue() -> None:
    scores = torch.tensor([[3.0, 2.0, 1.0]])
    empty = sp.csr_matrix((1, 3), dtype=np.float32)
    test = sp.csr_matrix(np.array([[0, 0, 1]], dtype=np.float32))
    means = rank_and_evaluate(lambda u: scores[u], test, empty, [2, 50]).means
    assert means["recall@2"] == 0.0 and means["recall@50"] == 1.0
    assert means["precision@50"] == pytest.approx(1 / 50)


def test_ranking_keeps_the_lists_and_skips_users_without_truth() -> None:
    scores = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    train = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1], [0, 0, 0], [1, 0, 0]], dtype=np.float32))
    ranking = rank_and_evaluate(lambda u: scores[u], test, train, [1, 10])
    assert ranking.users.tolist() == [0, 2]  # user 1 has no test item
    assert ranking.top.shape == (2, 3)  # K = 10 is cut to the catalogue
    assert ranking.top[0].tolist()[:2] == [1, 2]  # training item 0 ranked last
    assert ranking.per_user["recall@1"].tolist() == [0.0, 0.0]
    assert ranking.means["recall@10"] == 1.0


@pytest.mark.parametrize("threads", [1, 2])
def test_top_k_items_picks_what_topk_picks_best_first(threads: int) -> None:
    rng = np.random.default_rng(5)
    scores = torch.tensor(rng.integers(0, 40, size=(700, 1100)), dtype=torch.float32)  # ties; 3 user blocks
    exclude = sp.csr_matrix(rng.random((700, 1100)) < 0.3)
    users = rng.permutation(700)[:600]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        top = torch.from_numpy(top_k_items(lambda u: scores[u], users, exclude, 25))
    finally:
        torch.set_num_threads(before)
    masked = scores[users].masked_fill(torch.from_numpy(exclude[users].toarray()), -torch.inf)
    assert torch.equal(masked.gather(1, top), torch.topk(masked, 25, dim=1).values)  # the k best, best first
    assert all(len(set(row)) == 25 for row in top.tolist())  # distinct items


def test_top_k_items_scores_every_block_in_the_callers_grad_mode_and_restores_threads() -> None:
    modes: list[bool] = []

    def score(users: torch.Tensor) -> torch.Tensor:
        modes.append(torch.is_grad_enabled())
        return torch.rand(len(users), 300)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            top_k_items(score, np.arange(1000), sp.csr_matrix((1000, 300)), 10)
        assert torch.get_num_threads() == 2  # one torch thread per worker while they rank, then restored
    finally:
        torch.set_num_threads(before)
    assert len(modes) == 4 and not any(modes)  # 4 blocks, worker threads included
