"""Every registered model: builds, trains on real data, scores all items; pure graph functions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from alignrec import RunConfig, TrainConfig, available_models, load_dataset, train
from alignrec.evaluation import top_k_items
from alignrec.models import model_class
from alignrec.models.graph import cosine_knn_graph, normalized_bipartite, normalized_user_item
from alignrec.training.sampler import BPRSampler
from tests.conftest import RealData


@pytest.mark.parametrize("model", available_models())
def test_model_trains_and_beats_random(model: str, real_slice: RealData) -> None:
    data = real_slice.config()
    if model_class(model).task == "sequential":  # the same rows as the sequential track's split
        data = replace(data, split="leave_one_out")
    dataset = load_dataset(data)
    result = train(RunConfig(data=data, model=model, train=TrainConfig(epochs=6, lr=5e-3, batch_size=1024)),
                   dataset=dataset)
    random_recall = 20 / dataset.n_items
    assert result.test["recall@20"] > 2 * random_recall, result.test
    if model_class(model).trainable:  # closed-form models (pop, ease, itemknn, ...) have no loss history
        losses = [row["loss"] for row in result.history]
        assert losses[-1] < losses[0]
    users = np.unique(dataset.train[:, 0])[:64]
    with torch.no_grad():
        scores = result.model.score(torch.as_tensor(users))
    assert scores.shape == (len(users), dataset.n_items) and torch.isfinite(scores).all()
    seen = dataset.matrix("train")
    top = top_k_items(result.model.score, users, seen, 20)
    assert top.shape == (len(users), 20)
    assert not seen[users[:, None], top].toarray().any()  # no training item is ever recommended


def test_sampler_negatives_are_not_training_items() -> None:
    train_pairs = np.array([[0, 0], [0, 1], [0, 2], [1, 3], [1, 0]])
    sampler = BPRSampler(train_pairs, n_items=5)
    for seed in range(20):
        users, pos, neg = sampler.epoch(np.random.default_rng(seed))
        assert not sampler.is_positive(users, neg).any()
        assert sorted(zip(users.tolist(), pos.tolist())) == sorted(map(tuple, train_pairs.tolist()))


def test_normalized_graphs_by_hand() -> None:
    train_pairs = np.array([[0, 0], [0, 1], [1, 1]])
    bip = normalized_bipartite(train_pairs, 2, 2).toarray()
    # degrees: u0 2, u1 1, i0 1, i1 2 -> edge (u0, i1) weight 1/sqrt(2*2)
    assert bip[0, 3] == pytest.approx(0.5) and bip[3, 0] == pytest.approx(0.5)
    assert bip[1, 3] == pytest.approx(1 / np.sqrt(2))
    assert np.allclose(normalized_user_item(train_pairs, 2, 2).toarray(), bip[:2, 2:])


def test_knn_graph_keeps_self_and_top_k() -> None:
    f = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    graph = cosine_knn_graph(f, k=2).toarray()
    assert (graph != 0).sum(axis=1).max() <= 2
    assert (graph[:3] > 0).sum(axis=1).tolist() == [2, 2, 2]  # item 3's second neighbour has similarity 0
    assert all(graph[i, i] > 0 for i in range(4))  # each item is its own nearest neighbour
    assert graph[0, 1] > 0 and graph[0, 2] == 0


def test_scores_shape_and_device(real_data: RealData) -> None:
    data = real_data.config()
    result = train(RunConfig(data=data, model="lightgcn", train=TrainConfig(epochs=1)))
    with torch.no_grad():
        scores = result.model.score(torch.tensor([0, 1, 2]))
    assert scores.shape == (3, result.dataset.n_items) and torch.isfinite(scores).all()


def test_sampler_never_draws_items_without_training_interactions() -> None:
    """Cold-start items (held out of training) must never be pushed down as negatives."""
    rng = np.random.default_rng(0)
    items = np.arange(50)
    cold = np.array([3, 17, 18, 40, 49])
    warm = np.setdiff1d(items, cold)
    users = np.repeat(np.arange(30), 6)
    train_pairs = np.stack([users, rng.choice(warm, len(users))], axis=1)
    train_pairs = np.unique(train_pairs, axis=0)
    sampler = BPRSampler(train_pairs, n_items=50)
    drawn = np.concatenate([sampler.epoch(np.random.default_rng(seed))[2] for seed in range(200)])
    assert not np.isin(drawn, cold).any()
    assert set(np.unique(drawn)) == set(np.unique(train_pairs[:, 1]))  # every warm item can still be drawn


def test_freedom_prunes_the_training_graph_each_epoch_and_scores_on_the_full_graph(tiny_folder) -> None:
    from alignrec.data import load_dataset
    from alignrec.models import build_model

    dataset = load_dataset(tiny_folder)
    model = build_model("freedom", dataset, {"knn_k": 3, "dropout": 0.5})
    assert model.full_adj.a._nnz() == 2 * len(dataset.train)  # both directions of every training edge
    model.on_epoch_start(0, np.random.default_rng(0))
    first = model.train_adj.a.to_dense()
    model.on_epoch_start(1, np.random.default_rng(1))
    assert model.train_adj.a._nnz() == 2 * round(0.5 * len(dataset.train))
    assert not torch.equal(first, model.train_adj.a.to_dense())  # a fresh sample every epoch
    model.eval()
    with torch.no_grad():
        user_emb, item_emb = model.embeddings()
        expected = model.propagate(model.full_adj)
    assert torch.equal(user_emb, expected[0]) and torch.equal(item_emb, expected[1])


def test_dgvae_says_clearly_when_items_have_no_text(tiny_folder) -> None:
    from alignrec.data import load_dataset
    from alignrec.errors import DataError
    from alignrec.models import build_model

    with pytest.raises(DataError, match="dgvae needs item text.*features: \\['image', 'text'\\]"):
        build_model("dgvae", load_dataset(tiny_folder))


def test_item_words_and_tf_idf() -> None:
    from alignrec.data.words import item_word_matrix, tf_idf

    texts = ["Red wool scarf", "Blue wool hat and scarf", "red hat", "", "Green tea"]
    counts, vocab = item_word_matrix(texts, max_words=10, min_items=2, max_share=0.6)
    assert vocab == ["hat", "red", "scarf", "wool"]  # 'and' is a stop word, 'green'/'tea'/'blue' are too rare
    assert counts.toarray().tolist()[1] == [1, 0, 1, 1] and not counts[3].nnz
    weights = tf_idf(counts).toarray()
    assert weights[0, 1] == pytest.approx(np.log(5 / 2))


def test_scalar_token_attention_is_torch_attention_over_scalar_tokens() -> None:
    from alignrec.models.rearm import ScalarTokenAttention

    torch.manual_seed(0)
    ours = ScalarTokenAttention(dropout=0.0)
    with torch.no_grad():
        ours.in_bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        ours.out_weight.fill_(0.7)
        ours.out_bias.fill_(0.05)
    reference = torch.nn.MultiheadAttention(embed_dim=1, num_heads=1)
    with torch.no_grad():
        reference.in_proj_weight.copy_(ours.in_weight.view(3, 1))
        reference.in_proj_bias.copy_(ours.in_bias)
        reference.out_proj.weight.fill_(0.7)
        reference.out_proj.bias.fill_(0.05)
    query, keys = torch.randn(5, 8), torch.randn(5, 8)  # 5 vectors of 8 scalar tokens
    expected, _ = reference(query.T.unsqueeze(2), keys.T.unsqueeze(2), keys.T.unsqueeze(2))
    torch.testing.assert_close(ours(query, keys), expected.squeeze(2).T)


def test_lirdrec_copy_schedule() -> None:
    from alignrec.models.lirdrec import copy_schedule

    w1, weights = 0.9, []
    for epoch in range(12):  # the authors' update, applied at the start of every epoch after the first
        if epoch:
            w1 = w1 * 0.9 ** epoch / (w1 * 0.9 ** epoch + 1 - w1)
        weights.append(w1)
    np.testing.assert_allclose([copy_schedule(e, 0.9, 0.9) for e in range(12)], weights)


@pytest.mark.parametrize("dims", [{"audio": 6}, {"audio": 6, "image": 8, "text": 10}], ids=["one", "three"])
def test_content_models_take_any_number_of_modalities(dims: dict[str, int], tmp_path: Path) -> None:
    """Synthetic data (shapes only, no accuracy claim): every model that reads content builds, takes a few
    optimiser steps (or its closed-form fit) and scores with one modality and with three, none of them named image or
    text."""
    pytest.importorskip("pyarrow")
    from alignrec.data import load_dataset
    from alignrec.data.synthetic import SyntheticSpec, write_synthetic
    from alignrec.models import build_model, model_class

    folder = write_synthetic(SyntheticSpec(200, 80, 1500, seed=3, feature_dims=dims), tmp_path / "syn")
    dataset = load_dataset(folder, use_cache=False)
    sampler = BPRSampler(dataset.train, dataset.n_items)
    for name in available_models():
        if not model_class(name).scores_unseen_items or name == "dgvae":  # dgvae needs item text by design
            continue
        torch.manual_seed(0)
        model = build_model(name, dataset)
        optimizer = torch.optim.Adam(model.parameter_groups(), lr=1e-3)
        rng = np.random.default_rng(0)
        model.train()
        model.on_epoch_start(0, rng)
        batches = model.training_batches(rng, 256)
        batch = batches[0] if batches else tuple(torch.from_numpy(a[:256]) for a in sampler.epoch(rng))
        for _ in range(2 if model.trainable else 0):  # a closed-form model is fitted instead
            optimizer.zero_grad()
            model.loss(*batch)["loss"].backward()
            optimizer.step()
        if not model.trainable:
            model.fit(dataset)
        model.eval()
        with torch.no_grad():
            scores = model.score(torch.arange(5))
        assert scores.shape == (5, dataset.n_items) and torch.isfinite(scores).all(), name


def test_stage1_features_are_not_modalities() -> None:
    from alignrec.data import Dataset, concat_normalised, is_stage1_feature
    from alignrec.models.content import modality_inputs

    rng = np.random.default_rng(0)
    feats = {name: rng.normal(size=(3, 2)).astype(np.float32) for name in ("image", "text", "unified_cf")}
    pairs = np.array([[0, 0], [0, 1], [1, 2]])
    empty = np.zeros((0, 2), dtype=np.int64)
    ds = Dataset("t", 2, 3, pairs, empty, empty, np.arange(2).astype(str), np.arange(3).astype(str), feats)
    names = ("unified", "unified_cf", "unifiedish", "image")
    assert [is_stage1_feature(n) for n in names] == [True, True, False, False]
    assert sorted(modality_inputs(ds, None)) == ["image", "text"]
    assert list(modality_inputs(ds, "unified_cf")) == ["unified_cf"]
    np.testing.assert_allclose(ds.unified_feature(), concat_normalised([feats["image"], feats["text"]]))
