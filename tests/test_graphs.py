"""Shared graph pieces against dense / brute-force computations."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from alignrec.data import load_dataset
from alignrec.errors import ConfigError
from alignrec.models.graph import (
    degree_sensitive_keep,
    knn_adjacency,
    modality_knn_graph,
    normalized_bipartite,
    sym_normalise,
)
from alignrec.models.knn import APPROXIMATE_FROM, cosine_top_k, resolve_backend
from tests.conftest import RealData


def dense_knn(features: np.ndarray, k: int, weighted: bool) -> np.ndarray:
    x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    sims = x @ x.T
    out = np.zeros_like(sims)
    for row in range(len(sims)):
        top = np.argsort(-sims[row], kind="stable")[:k]
        out[row, top] = sims[row, top] if weighted else 1.0
    return out


@pytest.mark.parametrize("weighted", [True, False])
def test_knn_adjacency_matches_brute_force(weighted: bool) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(57, 6)).astype(np.float32)
    got = knn_adjacency(features, 5, weighted, chunk=16).toarray()  # several chunks
    np.testing.assert_allclose(got, dense_knn(features, 5, weighted), atol=1e-5)


def test_sym_normalise_by_hand() -> None:
    adj = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    d = adj.sum(axis=1)
    expected = np.zeros_like(adj)
    for i, j in zip(*np.nonzero(adj)):
        expected[i, j] = adj[i, j] / np.sqrt(d[i] * d[j]) if d[j] else 0.0
    np.testing.assert_allclose(sym_normalise(adj).toarray(), expected)


def test_freedom_item_graph_weights_modalities() -> None:
    rng = np.random.default_rng(1)
    image, text = rng.normal(size=(30, 4)), rng.normal(size=(30, 3))
    got = modality_knn_graph({"image": image, "text": text}, 4, 0.1).toarray()
    parts = {m: sym_normalise(dense_knn(f, 4, weighted=False)).toarray() for m, f in (("image", image), ("text", text))}
    np.testing.assert_allclose(got, 0.1 * parts["image"] + 0.9 * parts["text"], atol=1e-6)
    audio = rng.normal(size=(30, 5))
    three = modality_knn_graph({"image": image, "text": text, "audio": audio}, 4, 0.1).toarray()
    dense_audio = sym_normalise(dense_knn(audio, 4, weighted=False)).toarray()
    np.testing.assert_allclose(three, (parts["image"] + parts["text"] + dense_audio) / 3, atol=1e-6)


def test_duplicate_pairs_are_one_edge() -> None:
    once = normalized_bipartite(np.array([[0, 0], [0, 1], [1, 1]]), 2, 2).toarray()
    twice = normalized_bipartite(np.array([[0, 0], [0, 1], [1, 1], [0, 1]]), 2, 2).toarray()
    np.testing.assert_allclose(once, twice)


def test_degree_sensitive_pruning_keeps_low_degree_edges_more() -> None:
    rng = np.random.default_rng(2)
    # user 0 and item 0 are hubs; the other edges join degree-1 nodes
    hub = np.stack([np.zeros(20, dtype=np.int64), np.arange(20)], axis=1)
    hub = np.concatenate([hub, np.stack([np.arange(1, 21), np.zeros(20, dtype=np.int64)], axis=1)])
    leaves = np.stack([np.arange(21, 41), np.arange(20, 40)], axis=1)
    train = np.concatenate([hub, leaves])
    kept_leaf, runs = 0, 300
    for seed in range(runs):
        kept = degree_sensitive_keep(train, 41, 40, 0.5, np.random.default_rng(seed))
        assert len(kept) == 30 and len(np.unique(kept, axis=0)) == 30  # without replacement
        kept_leaf += np.isin(kept[:, 0], leaves[:, 0]).sum()
    # weights: hub edges 1/sqrt(20), leaf edges 1: leaves are kept far more often than their share (20 of 60)
    assert kept_leaf / (30 * runs) > 0.55
    assert degree_sensitive_keep(train, 41, 40, 1.0, rng) is train


def test_lattice_learned_graph_matches_dense_and_carries_gradients() -> None:
    import torch

    from alignrec.models.lattice import learned_graph, sparse_apply

    rng = np.random.default_rng(3)
    a = torch.tensor(rng.normal(size=(40, 5)), dtype=torch.float32, requires_grad=True)
    b = torch.tensor(rng.normal(size=(40, 4)), dtype=torch.float32, requires_grad=True)
    weights = torch.tensor([0.3, 0.7])
    rows, cols, values = learned_graph([a, b], weights, 6)
    dense = np.zeros((40, 40))
    np.add.at(dense, (rows.numpy(), cols.numpy()), values.detach().numpy())
    mixed = 0.3 * dense_knn(a.detach().numpy(), 6, True) + 0.7 * dense_knn(b.detach().numpy(), 6, True)
    np.testing.assert_allclose(dense, sym_normalise(mixed).toarray(), atol=1e-5)
    x = torch.tensor(rng.normal(size=(40, 3)), dtype=torch.float32)
    np.testing.assert_allclose(sparse_apply(rows, cols, values, x).detach().numpy(), dense @ x.numpy(), atol=1e-5)
    sparse_apply(rows, cols, values, x).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0 and b.grad is not None


def test_row_normalised_with_self_loops_by_hand() -> None:
    from alignrec.models.graph import row_normalised_with_self_loops

    got = row_normalised_with_self_loops(np.array([[0, 0], [0, 1], [1, 1]]), 2, 2).toarray()
    adj = np.eye(4)
    for u, i in ((0, 0), (0, 1), (1, 1)):
        adj[u, 2 + i] = adj[2 + i, u] = 1.0
    np.testing.assert_allclose(got, adj / adj.sum(axis=1, keepdims=True))


def test_uniformity_losses_match_brute_force() -> None:
    import torch

    from alignrec.models.losses import alignment_loss, calibrated_uniformity_loss, pair_similarities, uniformity_loss

    rng = np.random.default_rng(4)
    x = torch.nn.functional.normalize(torch.tensor(rng.normal(size=(9, 4)), dtype=torch.float64), dim=1)
    y = torch.tensor(rng.normal(size=(9, 4)), dtype=torch.float64)
    pairs = [(i, j) for i in range(9) for j in range(i + 1, 9)]
    d2 = np.array([float(((x[i] - x[j]) ** 2).sum()) for i, j in pairs])
    assert float(uniformity_loss(x)) == pytest.approx(np.log(np.mean(np.exp(-2 * d2))))
    sim = pair_similarities(y, 0.0, 0.8).numpy()
    unit = y.numpy() / np.linalg.norm(y.numpy(), axis=1, keepdims=True)
    assert sim == pytest.approx(np.clip([unit[i] @ unit[j] for i, j in pairs], 0.0, 0.8))
    expected = np.log(np.mean(np.exp(-2 * (d2 - 2 + 2 * sim))))
    assert float(calibrated_uniformity_loss(x, torch.tensor(sim))) == pytest.approx(expected)
    assert float(alignment_loss(x, y)) == pytest.approx(np.mean(np.sum((x.numpy() - y.numpy()) ** 2, axis=1)))


def test_spherical_bezier_stays_on_the_sphere_and_hits_its_ends() -> None:
    import torch

    from alignrec.models.fusion import slerp, spherical_bezier

    rng = np.random.default_rng(5)
    points = [torch.tensor(rng.normal(size=(7, 5)), dtype=torch.float64) for _ in range(3)]
    t = torch.tensor(rng.random(7))
    fused = spherical_bezier(points, t)
    np.testing.assert_allclose(fused.norm(dim=1).numpy(), 1.0, atol=1e-9)
    unit = [torch.nn.functional.normalize(p, dim=1) for p in points]
    np.testing.assert_allclose(spherical_bezier(points, torch.zeros(7)).numpy(), unit[0].numpy(), atol=1e-9)
    np.testing.assert_allclose(spherical_bezier(points, torch.ones(7)).numpy(), unit[2].numpy(), atol=1e-9)
    half = slerp(unit[0], unit[1], torch.full((7,), 0.5))  # the midpoint is equally far from both ends
    np.testing.assert_allclose((half * unit[0]).sum(1).numpy(), (half * unit[1]).sum(1).numpy(), atol=1e-9)


def test_mmhcl_graphs_match_dense() -> None:
    from alignrec.models.graph import hypergraph_item_graph, user_cooccurrence_graph

    rng = np.random.default_rng(6)
    image, text = rng.normal(size=(25, 4)), rng.normal(size=(25, 6))
    incidence = np.hstack([dense_knn(image, 3, False), dense_knn(text, 3, False)])
    expected = sym_normalise(incidence @ incidence.T).toarray()
    np.testing.assert_allclose(hypergraph_item_graph({"image": image, "text": text}, 3).toarray(), expected,
                               atol=1e-6)
    train = np.array([[0, 0], [0, 1], [1, 1], [1, 2], [2, 2], [3, 3]])
    shared = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=float)
    rows = shared.sum(1, keepdims=True)
    np.testing.assert_allclose(user_cooccurrence_graph(train, 4, 4).toarray(),
                               np.divide(shared, rows, out=np.zeros_like(shared), where=rows > 0))


def dense_top_k_rows(dense: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(dense)
    for row in range(len(dense)):
        order = np.lexsort((np.arange(dense.shape[1]), -dense[row]))[:k]
        order = order[dense[row, order] > 0]
        out[row, order] = dense[row, order]
    return out


@pytest.mark.parametrize("block", [3, 1000])
def test_cooccurrence_top_k_matches_dense(block: int) -> None:
    from alignrec.models.graph import cooccurrence_top_k

    rng = np.random.default_rng(8)
    r = (rng.random((23, 17)) < 0.25).astype(float)
    shared = r @ r.T
    np.fill_diagonal(shared, 0)
    np.testing.assert_allclose(cooccurrence_top_k(r, 4, block=block).toarray(), dense_top_k_rows(shared, 4))


def test_row_softmax_and_cooccurrence_graph_match_dense() -> None:
    from alignrec.models.graph import cooccurrence_graph, row_softmax

    dense = np.array([[0, 2.0, 1.0], [0, 0, 0], [3.0, 0, 0]])
    got = row_softmax(dense).toarray()
    np.testing.assert_allclose(got[0], [0, np.e / (np.e + 1), 1 / (np.e + 1)])
    assert got[1].sum() == 0 and got[2].tolist() == [1.0, 0, 0]
    # user 3 shares no item with anyone: it links uniformly to the 2 most active users (0, then 1)
    r = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    graph = cooccurrence_graph(r, 2).toarray()
    shared = r @ r.T
    np.fill_diagonal(shared, 0)
    top = dense_top_k_rows(shared, 2)
    expected = np.where(top > 0, np.exp(top), 0)
    expected = expected / np.maximum(expected.sum(1, keepdims=True), 1e-300)
    expected[3, [0, 1]] = 0.5
    np.testing.assert_allclose(graph, expected)


def test_mean_similarity_knn_graph_matches_dense() -> None:
    from alignrec.models.graph import mean_similarity_knn_graph

    rng = np.random.default_rng(9)
    image, text = rng.normal(size=(19, 4)), rng.normal(size=(19, 6))
    expected = 0.3 * dense_knn(image, 5, True) / 5 + 0.7 * dense_knn(text, 5, True) / 5
    np.testing.assert_allclose(mean_similarity_knn_graph({"image": image, "text": text}, 5, 0.3).toarray(),
                               expected, atol=1e-6)


def test_node_contrastive_loss_matches_brute_force() -> None:
    import torch

    from alignrec.models.losses import node_contrastive_loss

    rng = np.random.default_rng(7)
    z1, z2 = (torch.tensor(rng.normal(size=(11, 4)), dtype=torch.float64, requires_grad=True) for _ in range(2))
    a = (z1 / z1.norm(dim=1, keepdim=True)).detach().numpy()
    b = (z2 / z2.norm(dim=1, keepdim=True)).detach().numpy()
    own, other = np.exp(a @ a.T / 0.5), np.exp(a @ b.T / 0.5)
    expected = np.mean([-np.log(other[i, i] / (own[i].sum() + other[i].sum() - own[i, i])) for i in range(11)])
    chunked = node_contrastive_loss(z1, z2, 0.5, chunk=4)
    assert chunked.item() == pytest.approx(expected)
    # the gradient through the recomputed chunks equals the one through a single dense block
    chunked_grads = torch.autograd.grad(chunked, (z1, z2))
    whole_grads = torch.autograd.grad(node_contrastive_loss(z1, z2, 0.5, chunk=11), (z1, z2))
    for chunked_grad, whole_grad in zip(chunked_grads, whole_grads, strict=True):
        torch.testing.assert_close(chunked_grad, whole_grad)


def test_info_nce_over_distinct_ids_matches_the_repeated_rows() -> None:
    import torch

    from alignrec.models.losses import info_nce_by_id

    rng = np.random.default_rng(8)
    anchors, positives = (torch.tensor(rng.normal(size=(6, 4)), dtype=torch.float64, requires_grad=True)
                          for _ in range(2))
    ids = torch.tensor([3, 0, 3, 5, 1, 3, 0, 2])  # repeated ids, and an id (4) the batch does not hold
    a = (anchors / anchors.norm(dim=1, keepdim=True))[ids].detach().numpy()
    p = (positives / positives.norm(dim=1, keepdim=True))[ids].detach().numpy()
    s = np.exp(a @ p.T / 0.3)
    expected = np.mean([-np.log(s[i, i] / s[i].sum()) for i in range(len(ids))])
    loss = info_nce_by_id(anchors, positives, ids, 0.3)
    assert loss.item() == pytest.approx(expected)
    grads = torch.autograd.grad(loss, (anchors, positives))
    rows = torch.nn.functional.normalize(anchors[ids], dim=1) @ torch.nn.functional.normalize(positives[ids], dim=1).T
    dense = torch.nn.functional.cross_entropy(rows / 0.3, torch.arange(len(ids)))
    for grad, dense_grad in zip(grads, torch.autograd.grad(dense, (anchors, positives)), strict=True):
        torch.testing.assert_close(grad, dense_grad)
    # the backward pass leaves its buffer as it found it, so a retained graph gives the same gradients twice
    again = info_nce_by_id(anchors, positives, ids, 0.3)
    first = torch.autograd.grad(again, (anchors, positives), retain_graph=True)
    for grad, repeated in zip(first, torch.autograd.grad(again, (anchors, positives)), strict=True):
        torch.testing.assert_close(grad, repeated)


def test_info_nce_at_a_low_temperature_falls_back_to_row_maxima() -> None:
    import torch

    from alignrec.models.losses import info_nce_by_id

    rng = np.random.default_rng(9)
    anchors, positives = (torch.tensor(rng.normal(size=(5, 3)), dtype=torch.float32, requires_grad=True)
                          for _ in range(2))
    ids = torch.tensor([0, 1, 1, 2, 3, 4, 4, 4])
    for temperature in (0.3, 0.01):  # a fixed shift of 1/0.01 would underflow exp() in float32
        loss = info_nce_by_id(anchors, positives, ids, temperature)
        rows = (torch.nn.functional.normalize(anchors[ids], dim=1)
                @ torch.nn.functional.normalize(positives[ids], dim=1).T)
        dense = torch.nn.functional.cross_entropy(rows / temperature, torch.arange(len(ids)))
        assert torch.isfinite(loss)
        torch.testing.assert_close(loss, dense)
        for grad, dense_grad in zip(torch.autograd.grad(loss, (anchors, positives)),
                                    torch.autograd.grad(dense, (anchors, positives)), strict=True):
            torch.testing.assert_close(grad, dense_grad)


def real_features(real_data: RealData) -> np.ndarray:
    dataset = load_dataset(real_data.config())
    return np.concatenate([dataset.features[m] for m in sorted(dataset.features)], axis=1)


def test_faiss_knn_is_the_exact_graph_on_real_features(real_data: RealData) -> None:
    pytest.importorskip("faiss")
    features = real_features(real_data)
    exact = knn_adjacency(features, 10, backend="exact")
    flat = knn_adjacency(features, 10, backend="faiss-flat")
    values, _ = cosine_top_k(features, 11, backend="exact")
    # a row whose 10th and 11th similarities tie to float precision may pick either; every other row must agree
    clear = np.flatnonzero(values[:, 9] - values[:, 10] > 1e-5)
    assert len(clear) > 0.95 * len(features)
    np.testing.assert_array_equal((exact[clear] != 0).toarray(), (flat[clear] != 0).toarray())
    np.testing.assert_allclose(flat[clear].toarray(), exact[clear].toarray(), atol=1e-5)


def test_hnsw_knn_finds_nearly_all_exact_neighbours(real_data: RealData) -> None:
    pytest.importorskip("faiss")
    features = real_features(real_data)
    _, exact = cosine_top_k(features, 10, backend="exact")
    _, approx = cosine_top_k(features, 10, backend="faiss-hnsw")
    found = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert found > 0.95


def test_knn_backend_choice() -> None:
    assert resolve_backend("auto", 5_000) == "exact"
    expected = "faiss-hnsw" if importlib.util.find_spec("faiss") else "exact"
    assert resolve_backend("auto", APPROXIMATE_FROM + 1) == expected
    with pytest.raises(ConfigError, match="kNN backend must be one of"):
        resolve_backend("annoy", 10)


def test_orthogonality_loss_matches_brute_force() -> None:
    import torch

    from alignrec.models.losses import orthogonality_loss

    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))

    def standard(x: np.ndarray) -> np.ndarray:
        x = x - x.mean(0)
        return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)

    expected = sum(float(standard(a)[:, i] @ standard(b)[:, j]) ** 2 for i in range(4) for j in range(4)) / 16
    assert float(orthogonality_loss(torch.tensor(a), torch.tensor(b))) == pytest.approx(expected)
    same = torch.tensor(a)
    assert float(orthogonality_loss(same, same)) > float(orthogonality_loss(same, torch.tensor(b)))


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_layer_mean_and_its_gradient_match_dense_powers(symmetric: bool, n_layers: int) -> None:
    import scipy.sparse as sp
    import torch

    from alignrec.models.graph import SparseOperator

    rng = np.random.default_rng(9)
    matrix = sp.random(13, 13, density=0.3, random_state=3, dtype=np.float32)
    matrix = (matrix + matrix.T) if symmetric else matrix
    dense = torch.tensor(matrix.toarray())
    x = torch.tensor(rng.normal(size=(13, 5)), dtype=torch.float32, requires_grad=True)
    weights = torch.tensor(rng.normal(size=(13, 5)), dtype=torch.float32)
    operator = SparseOperator(matrix, symmetric=symmetric)

    got = operator.layer_mean(x, n_layers)
    grad, = torch.autograd.grad((got * weights).sum(), x)
    layers = [x]
    for _ in range(n_layers):
        layers.append(dense @ layers[-1])
    expected = torch.stack(layers).mean(0)
    expected_grad, = torch.autograd.grad((expected * weights).sum(), x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grad, expected_grad)
    with torch.no_grad():  # the inference path, no autograd function
        torch.testing.assert_close(operator.layer_mean(x, n_layers), expected)
    single, = torch.autograd.grad((operator(x) * weights).sum(), x)
    torch.testing.assert_close(single, dense.T @ weights)
    assert operator.a.col_indices().dtype == torch.int32  # the CPU kernel's own index type: no conversion per call


def test_l2_reg_of_rows_is_l2_reg_of_the_gathered_rows() -> None:
    import torch

    from alignrec.models.losses import l2_reg, l2_reg_of_rows

    rng = np.random.default_rng(10)
    table = torch.tensor(rng.normal(size=(9, 4)), requires_grad=True)
    rows = torch.tensor([4, 0, 4, 8, 2, 4, 0, 1, 7])  # repeats, and rows (3, 5, 6) never gathered
    got = l2_reg_of_rows(table, rows, batch=3)
    expected = l2_reg(*table[rows].split(3))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(torch.autograd.grad(got, table)[0], torch.autograd.grad(expected, table)[0])


def test_weighted_similarity_gap_matches_the_repeated_rows() -> None:
    import torch

    from alignrec.models.losses import similarity_gap

    rng = np.random.default_rng(10)
    h = torch.tensor(rng.normal(size=(5, 3)), dtype=torch.float64, requires_grad=True)
    f0 = torch.nn.functional.normalize(torch.tensor(rng.normal(size=(5, 7)), dtype=torch.float64), dim=1)
    f0.requires_grad_()
    counts = torch.tensor([1, 3, 2, 1, 4])
    repeat = torch.repeat_interleave(torch.arange(5), counts)
    dense = torch.linalg.matrix_norm(h[repeat] @ h[repeat].T - f0[repeat] @ f0[repeat].T)
    for gram in (None, (f0[repeat] @ f0[repeat].T).pow(2).sum().detach()):
        gap = similarity_gap(h, f0, gram, counts.double())
        torch.testing.assert_close(gap, dense)
        wrt = (h, f0) if gram is None else (h,)  # with a given target norm, f0 is taken as fixed in that term
        grads = torch.autograd.grad(gap, wrt, retain_graph=True)
        for grad, dense_grad in zip(grads, torch.autograd.grad(dense, wrt, retain_graph=True), strict=True):
            torch.testing.assert_close(grad, dense_grad)
    torch.testing.assert_close(similarity_gap(h, f0), torch.linalg.matrix_norm(h @ h.T - f0 @ f0.T))


def test_mix_with_cooccurrence_is_the_weighted_sum() -> None:
    import scipy.sparse

    from alignrec.models.graph import cooccurrence_graph, mix_with_cooccurrence

    rng = np.random.default_rng(9)
    r = (rng.random((12, 7)) < 0.3).astype(float)
    graph = scipy.sparse.csr_matrix(rng.random((12, 12)) * (rng.random((12, 12)) < 0.3))
    np.testing.assert_array_equal(mix_with_cooccurrence(graph, r, 3, 0.0).toarray(), graph.toarray())
    expected = 0.75 * graph.toarray() + 0.25 * cooccurrence_graph(r, 3).toarray()
    np.testing.assert_allclose(mix_with_cooccurrence(graph, r, 3, 0.25).toarray(), expected)
