"""Intermediate feature metrics against brute-force re-computations on a tiny example."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from alignrec.config import TrainConfig
from alignrec.data import Dataset
from alignrec.evaluation.evaluator import rank_and_evaluate
from alignrec.evaluation.feature_metrics import (
    choose_masked_items,
    item_cf_score_fn,
    item_knn_similarity,
    mask_rows,
    zero_shot_score_fn,
)
from alignrec.evaluation.feature_table import FeatureEvalConfig, evaluate_features
from alignrec.runs import RunConfig, train
from alignrec.runs.masked import load_masked_model

N_USERS, N_ITEMS = 7, 10


def tiny_dataset(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    train_pairs, test_pairs = [], []
    for u in range(N_USERS):
        items = rng.permutation(N_ITEMS)[:5]
        train_pairs += [(u, i) for i in items[:3]]
        test_pairs += [(u, i) for i in items[3:]]
    image = rng.normal(size=(N_ITEMS, 4)).astype(np.float32)
    image[2] = 0.0  # item 2 has no image
    text = rng.normal(size=(N_ITEMS, 3)).astype(np.float32)
    return Dataset(name="tiny", n_users=N_USERS, n_items=N_ITEMS, train=np.array(train_pairs, dtype=np.int64),
                   valid=np.array(test_pairs[:3], dtype=np.int64), test=np.array(test_pairs, dtype=np.int64),
                   user_ids=np.arange(N_USERS).astype(str), item_ids=np.arange(N_ITEMS).astype(str),
                   features={"image": image, "text": text})


def brute_zero_shot(features: np.ndarray, train: sp.csr_matrix) -> np.ndarray:
    out = np.zeros((N_USERS, N_ITEMS))
    for u in range(N_USERS):
        rows = [features[i] / np.linalg.norm(features[i]) if np.linalg.norm(features[i]) else features[i] * 0
                for i in train[u].indices]
        profile = np.mean(rows, axis=0)
        for j in range(N_ITEMS):
            denom = np.linalg.norm(profile) * np.linalg.norm(features[j])
            out[u, j] = profile @ features[j] / denom if denom else 0.0
    return out


def brute_item_cf(features: np.ndarray, train: sp.csr_matrix, k: int, shrink: float) -> np.ndarray:
    sim = np.zeros((N_ITEMS, N_ITEMS))
    for i in range(N_ITEMS):
        row = np.full(N_ITEMS, -np.inf)
        for j in range(N_ITEMS):
            denom = np.linalg.norm(features[i]) * np.linalg.norm(features[j]) + shrink
            if j != i:
                row[j] = features[i] @ features[j] / denom if denom else 0.0
        for j in np.argsort(-row)[:k]:
            if row[j] > 0:
                sim[i, j] = row[j]
    out = np.zeros((N_USERS, N_ITEMS))
    for u in range(N_USERS):
        for i in train[u].indices:
            out[u] += sim[i]
    return out


def brute_recall(scores: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> float:
    values = []
    for u in range(N_USERS):
        s = scores[u].copy()
        s[train[u].indices] = -np.inf
        top = np.argsort(-s, kind="stable")[:k]
        values.append(len(set(top) & set(test[u].indices)) / len(test[u].indices))
    return float(np.mean(values))


def test_zero_shot_matches_brute_force() -> None:
    ds = tiny_dataset()
    train, test = ds.matrix("train"), ds.matrix("test")
    for features in ds.features.values():
        fast = zero_shot_score_fn(features, train)(torch.arange(N_USERS)).numpy()
        slow = brute_zero_shot(features, train)
        np.testing.assert_allclose(fast, slow, atol=1e-5)
        means = rank_and_evaluate(zero_shot_score_fn(features, train), test, train, [3], batch_size=2).means
        assert means["recall@3"] == pytest.approx(brute_recall(slow, train, test, 3))


@pytest.mark.parametrize(("k", "shrink"), [(3, 0.0), (4, 2.0), (20, 10.0)])
def test_item_cf_matches_brute_force(k: int, shrink: float) -> None:
    ds = tiny_dataset(1)
    train, test = ds.matrix("train"), ds.matrix("test")
    features = ds.features["image"]
    sim = item_knn_similarity(features, k, shrink, chunk=3)
    assert sim.diagonal().sum() == 0
    assert (np.diff(sim.indptr) <= min(k, N_ITEMS - 1)).all()
    fast = item_cf_score_fn(sim, train)(torch.arange(N_USERS)).numpy()
    slow = brute_item_cf(features, train, k, shrink)
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    means = rank_and_evaluate(item_cf_score_fn(sim, train), test, train, [2], batch_size=3).means
    assert means["recall@2"] == pytest.approx(brute_recall(slow, train, test, 2))


def test_masking_is_seeded_and_hides_present_rows_only() -> None:
    present = np.array([True] * 8 + [False] * 2)
    mask = choose_masked_items(present, 0.5, seed=3)
    assert mask.sum() == 4 and not mask[~present].any()
    assert (mask == choose_masked_items(present, 0.5, seed=3)).all()
    features = np.ones((10, 2), dtype=np.float32)
    masked = mask_rows(features, mask)
    assert (masked[mask] == 0).all() and (masked[~mask] == 1).all() and (features == 1).all()
    with pytest.raises(ValueError):
        choose_masked_items(present, 1.5, seed=0)


def test_feature_table_rows_and_masks() -> None:
    ds = tiny_dataset()
    extra = {"other": np.random.default_rng(5).normal(size=(N_ITEMS, 2)).astype(np.float32)}
    result = evaluate_features(ds, FeatureEvalConfig(ks=[2, 3], knn_k=3), extra)
    inputs = {(r["input"], r["method"]) for r in result["rows"]}
    assert ("concat(image+text)", "item-CF") in inputs and ("other", "zero-shot") in inputs
    assert result["masked_items"] == {"image": 4, "text": 5}
    by_key = {(r["input"], r["method"]): r for r in result["rows"]}
    assert by_key[("other", "item-CF")]["masked"]["image"] is None
    # Masking text leaves the image-only metrics unchanged.
    image_zs = by_key[("image", "zero-shot")]
    assert image_zs["masked"]["text"] == image_zs["full"]


def test_masked_model_zeroes_trainable_feature(tmp_path: pytest.TempPathFactory) -> None:
    ds = tiny_dataset()
    config = RunConfig(model="alignrec", params={"knn_k": 3}, topk=[2],
                       train=TrainConfig(epochs=1, valid_metric="recall@2", batch_size=8))
    train(config, run_dir=tmp_path / "run", dataset=ds)
    mask = choose_masked_items(np.ones(N_ITEMS, dtype=bool), 0.5, seed=1)
    full = load_masked_model(tmp_path / "run", ds, None, None).feature.detach().numpy()
    masked = load_masked_model(tmp_path / "run", ds, "image", mask).feature.detach().numpy()
    d_image = ds.features["image"].shape[1]
    assert (masked[mask, :d_image] == 0).all()
    np.testing.assert_array_equal(masked[:, d_image:], full[:, d_image:])
    np.testing.assert_array_equal(masked[~mask], full[~mask])
