"""The closed-form and neighbourhood baselines (ease, cease, itemknn, itemknn_cbf) and their pure pieces
(models/linear.py), each against a direct dense computation by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.models import build_model, resolve_params
from alignrec.models.linear import (
    check_dense_fits,
    dense_fit_bytes,
    ease_weights,
    gram_matrix,
    neighbour_matrix,
    scores_dense_weights,
    scores_sparse_weights,
    shrunk_cosine_top_k,
    sparse_rows,
)


def random_binary(n_rows: int, n_cols: int, density: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((n_rows, n_cols)) < density).astype(np.float64)


def dataset_of(x: np.ndarray, features: dict[str, np.ndarray] | None = None) -> Dataset:
    """A Dataset whose training split is the binary matrix ``x`` ``[n_users, n_items]``."""
    users, items = np.nonzero(x)
    train = np.stack([users, items], axis=1).astype(np.int64)
    empty = np.zeros((0, 2), dtype=np.int64)
    n_users, n_items = x.shape
    return Dataset("t", n_users, n_items, train, empty, empty, np.arange(n_users).astype(str),
                   np.arange(n_items).astype(str), features or {})


def ease_by_hand(gram: np.ndarray, reg: float) -> np.ndarray:
    """Steck's closed form, written out with a dense numpy inverse."""
    p = np.linalg.inv(gram + reg * np.eye(len(gram)))
    return np.eye(len(gram)) - p @ np.diag(1.0 / np.diag(p))


def shrunk_cosine_by_hand(v: np.ndarray, shrink: float) -> np.ndarray:
    norms = np.linalg.norm(v, axis=1)
    denom = norms[:, None] * norms[None, :] + shrink
    return np.divide(v @ v.T, denom, out=np.zeros((len(v), len(v))), where=denom > 0)


def l2(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n > 0, n, 1.0)


def scores_of(model: torch.nn.Module, users: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model.score(torch.as_tensor(users)).numpy()


# --- pure pieces ---------------------------------------------------------------------------------------------------

def test_gram_matrix_in_blocks_is_xtx() -> None:
    x = random_binary(30, 11, 0.3, 0)
    expected = x.T @ x
    np.testing.assert_array_equal(gram_matrix(sp.csr_matrix(x)).numpy(), expected)
    blocks = gram_matrix(sp.csr_matrix(x), block_bytes=8 * 11 * 3)  # 3 columns per block, 4 blocks
    np.testing.assert_array_equal(blocks.numpy(), expected)


@pytest.mark.parametrize("reg", [0.5, 10.0, 250.0])
def test_ease_weights_match_the_dense_inverse(reg: float) -> None:
    x = random_binary(40, 9, 0.35, 1)
    b = ease_weights(torch.from_numpy(x.T @ x), reg).numpy()
    np.testing.assert_allclose(b, ease_by_hand(x.T @ x, reg), atol=1e-10)
    assert np.all(np.diag(b) == 0.0)
    # B is the constrained least-squares solution: the gradient of ||X - XB||² + λ||B||² is zero off the diagonal
    grad = -(x.T @ (x - x @ b)) + reg * b
    np.testing.assert_allclose(grad - np.diag(np.diag(grad)), 0.0, atol=1e-8)


def test_ease_weights_refuse_a_non_positive_reg_weight() -> None:
    with pytest.raises(ConfigError, match="positive reg_weight"):
        ease_weights(torch.eye(3, dtype=torch.float64), 0.0)


def test_dense_memory_estimate_and_refusal() -> None:
    assert dense_fit_bytes(10_000) == 10_000 ** 2 * 20  # two float64 n x n plus the float32 weights
    assert dense_fit_bytes(10_000, itemsize=4) == 10_000 ** 2 * 12
    check_dense_fits("ease", 20_000, 16.0)  # 8 GB: fits
    with pytest.raises(ConfigError, match=r"ease needs dense 200000 x 200000 matrices \(800\.0 GB to fit\).*"
                                          r"params\.max_memory_gb=16.*use itemknn"):
        check_dense_fits("ease", 200_000, 16.0)


@pytest.mark.parametrize("shrink", [0.0, 3.0])
@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_shrunk_cosine_top_k_matches_brute_force(kind: str, shrink: float) -> None:
    rng = np.random.default_rng(2)
    if kind == "sparse":  # items x users interactions; item 4 has none
        v = random_binary(13, 25, 0.3, 3)
        v[4] = 0.0
        vectors: np.ndarray | sp.csr_matrix = sp.csr_matrix(v)
    else:
        v = rng.normal(size=(13, 6))
        vectors = v
    full = shrunk_cosine_by_hand(v, shrink)
    np.fill_diagonal(full, -np.inf)
    k = 4
    values, indices = shrunk_cosine_top_k(vectors, k, shrink, exclude_self=True, block_bytes=4 * 13 * 5)
    assert values.shape == indices.shape == (13, k)
    assert not (indices == np.arange(13)[:, None]).any()  # an item is never its own neighbour
    brute = -np.sort(-full, axis=1)[:, :k]
    np.testing.assert_allclose(values, brute, rtol=1e-5, atol=1e-6)  # the k largest, most similar first
    np.testing.assert_allclose(np.take_along_axis(full, indices, 1), values, rtol=1e-5, atol=1e-6)
    if kind == "sparse" and shrink == 0.0:
        assert np.all(values[4] == 0.0)  # no interactions: similarity 0 to everything


def test_shrunk_cosine_top_k_with_self_and_a_k_beyond_the_catalogue() -> None:
    v = np.random.default_rng(4).normal(size=(5, 3))
    values, indices = shrunk_cosine_top_k(v, 50, 0.0, exclude_self=False)
    assert values.shape == (5, 5)  # every item kept, itself included
    assert (indices[:, 0] == np.arange(5)).all()  # with no shrink an item is its own nearest (cosine 1)
    np.testing.assert_allclose(values[:, 0], 1.0, rtol=1e-6)
    assert shrunk_cosine_top_k(v, 50, 0.0, exclude_self=True)[0].shape == (5, 4)
    with pytest.raises(ConfigError, match="k >= 1"):
        shrunk_cosine_top_k(v, 0, 0.0)
    with pytest.raises(ConfigError, match="shrink"):
        shrunk_cosine_top_k(v, 2, -1.0)


def test_neighbour_matrix_places_rows_and_drops_zeros() -> None:
    values = np.array([[0.5, 0.0], [0.25, 0.75]], dtype=np.float32)
    indices = np.array([[1, 0], [0, 2]])
    m = neighbour_matrix(values, indices, 3)
    np.testing.assert_array_equal(m.toarray(), [[0.0, 0.5, 0.0], [0.25, 0.0, 0.75]])
    assert m.nnz == 3


def test_sparse_rows_are_the_users_training_rows_and_multiply() -> None:
    dense = random_binary(9, 7, 0.4, 5)
    dense[3] = 0.0
    x = sp.csr_matrix(dense)
    x.sort_indices()
    users = np.array([3, 0, 8, 0, 5])  # a user without items, a repeated user
    rows = sparse_rows(torch.from_numpy(x.indptr.astype(np.int64)), torch.from_numpy(x.indices.astype(np.int64)),
                       torch.from_numpy(users), 7)
    assert rows.layout == torch.sparse_csr and rows.shape == (5, 7)
    np.testing.assert_array_equal(rows.to_dense().numpy(), dense[users])
    w = np.random.default_rng(6).normal(size=(7, 4)).astype(np.float32)
    w[np.abs(w) < 0.5] = 0.0
    expected = dense[users] @ w
    np.testing.assert_allclose(scores_dense_weights(rows, torch.from_numpy(w)).numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    w_t = torch.from_numpy(np.ascontiguousarray(w.T)).to_sparse_csr()
    np.testing.assert_allclose(scores_sparse_weights(rows, w_t).numpy(), expected, rtol=1e-5, atol=1e-6)
    empty = sparse_rows(torch.zeros(3, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), torch.tensor([0, 1]), 4)
    assert empty.shape == (2, 4) and not empty.to_dense().any()


# --- the models ----------------------------------------------------------------------------------------------------

def test_ease_model_scores_are_x_times_b() -> None:
    x = random_binary(25, 8, 0.35, 6)
    model = build_model("ease", dataset_of(x), {"reg_weight": 3.0})
    model.fit(dataset_of(x))
    users = np.array([0, 7, 24, 3])
    np.testing.assert_allclose(scores_of(model, users), x[users] @ ease_by_hand(x.T @ x, 3.0), rtol=1e-5,
                               atol=1e-6)


def test_cease_is_ease_on_interactions_stacked_with_weighted_content() -> None:
    rng = np.random.default_rng(7)
    x = random_binary(20, 8, 0.35, 8)
    x[:, 5] = 0.0  # item 5 has no training interactions (cold)
    image, text = rng.normal(size=(8, 3)), rng.normal(size=(8, 4))
    image[2] = 0.0  # item 2 has no image
    ds = dataset_of(x, {"image": image.astype(np.float32), "text": text.astype(np.float32)})
    model = build_model("cease", ds, {"reg_weight": 4.0, "content_weight": 2.5})
    model.fit(ds)
    f = np.concatenate([l2(image), l2(text)], axis=1)
    stacked = np.vstack([x, np.sqrt(2.5) * f.T])  # the paper's form: [X; α Fᵀ] with α² = content_weight
    b = ease_by_hand(stacked.T @ stacked, 4.0)
    np.testing.assert_allclose(model.weights.numpy(), b, rtol=1e-4, atol=1e-6)
    scores = scores_of(model, np.arange(20))
    np.testing.assert_allclose(scores, x @ b, rtol=1e-4, atol=1e-6)
    assert np.abs(scores[:, 5]).max() > 1e-3  # the cold item is ranked from its content
    ease = build_model("ease", ds, {"reg_weight": 4.0})
    ease.fit(ds)
    assert np.abs(scores_of(ease, np.arange(20))[:, 5]).max() < 1e-6  # EASE cannot rank it


@pytest.mark.parametrize("name", ["cease", "itemknn_cbf"])
def test_content_models_refit_from_masked_content(name: str) -> None:
    """Mask-modality evaluation builds the model on masked features, loads the fitted state, then hides: the state
    (B, or the content neighbours) is that of a fit on the masked content."""
    rng = np.random.default_rng(9)
    x = random_binary(20, 8, 0.35, 10)
    feats = {"image": rng.normal(size=(8, 3)).astype(np.float32), "text": rng.normal(size=(8, 4)).astype(np.float32)}
    full = dataset_of(x, feats)
    fitted = build_model(name, full, {"k": 3} if name == "itemknn_cbf" else {})
    fitted.fit(full)
    masked_feats = {**feats, "image": feats["image"].copy()}
    masked_feats["image"][[1, 4]] = 0.0
    masked = dataset_of(x, masked_feats)
    model = build_model(name, masked, fitted.params)
    model.load_state_dict(fitted.state_dict())
    model.hide_item_content(model.content_input(full) != model.content_input(masked))
    expected = build_model(name, masked, fitted.params)
    expected.fit(masked)
    users = np.arange(20)
    np.testing.assert_allclose(scores_of(model, users), scores_of(expected, users), rtol=1e-6)
    assert not np.allclose(scores_of(model, users), scores_of(fitted, users))


def brute_itemknn_weights(x: np.ndarray, k: int, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """Dacrema et al.'s W: column j keeps the k largest s_ij over the other items i; and the column top-k values."""
    s = shrunk_cosine_by_hand(x.T, shrink)
    np.fill_diagonal(s, -np.inf)
    top_values = -np.sort(-s, axis=0)[:k]  # [k, n]: per column, largest first
    return s, top_values


def test_itemknn_keeps_each_target_items_top_k_and_scores_by_them() -> None:
    x = random_binary(40, 12, 0.3, 11)
    ds = dataset_of(x)
    model = build_model("itemknn", ds, {"k": 3, "shrink": 2.0})
    model.fit(ds)
    s, top_values = brute_itemknn_weights(x, 3, 2.0)
    neighbours, sims = model.neighbours.numpy(), model.similarities.numpy()
    np.testing.assert_allclose(sims, top_values.T, rtol=1e-5)  # row j: target j's k best, ties in any order
    np.testing.assert_allclose(s[neighbours, np.arange(12)[:, None]], sims, rtol=1e-5)
    w = np.zeros((12, 12))
    for j in range(12):
        w[neighbours[j], j] = sims[j]
    users = np.arange(40)
    np.testing.assert_allclose(scores_of(model, users), x @ w, rtol=1e-5, atol=1e-6)
    # with every other item a neighbour there are no ties to break: W is the whole similarity without its diagonal
    every = build_model("itemknn", ds, {"k": 100, "shrink": 2.0})
    every.fit(ds)
    np.fill_diagonal(s, 0.0)
    np.testing.assert_allclose(scores_of(every, users), x @ s, rtol=1e-5, atol=1e-6)


def test_itemknn_cbf_sums_the_content_neighbours_of_the_users_items() -> None:
    rng = np.random.default_rng(12)
    x = random_binary(30, 10, 0.3, 13)
    x[:, 7] = 0.0  # a cold item
    image, text = rng.normal(size=(10, 4)), rng.normal(size=(10, 5))
    ds = dataset_of(x, {"image": image.astype(np.float32), "text": text.astype(np.float32)})
    model = build_model("itemknn_cbf", ds, {"k": 3, "shrink": 0.5})
    model.fit(ds)
    s = shrunk_cosine_by_hand(np.concatenate([l2(image), l2(text)], axis=1), 0.5)
    pruned = np.zeros_like(s)  # MMRec's S: row i keeps its own k largest, itself included
    for i in range(10):
        top = np.argsort(-s[i])[:3]
        pruned[i, top] = s[i, top]
    scores = scores_of(model, np.arange(30))
    np.testing.assert_allclose(scores, x @ pruned, rtol=1e-5, atol=1e-6)
    assert model.scores_unseen_items and np.abs(scores[:, 7]).max() > 0  # the cold item is some item's neighbour


@pytest.mark.parametrize(("name", "params"), [("ease", {}), ("cease", {}), ("itemknn", {"k": 4}),
                                               ("itemknn_cbf", {"k": 4})])
def test_a_fitted_model_reloads_from_its_state_dict(name: str, params: dict) -> None:
    """What a run directory's best.pt holds is enough to score again (itemknn rebuilds its sparse matrix)."""
    rng = np.random.default_rng(14)
    x = random_binary(30, 9, 0.3, 15)
    ds = dataset_of(x, {"image": rng.normal(size=(9, 3)).astype(np.float32)})
    fitted = build_model(name, ds, params)
    fitted.fit(ds)
    fresh = build_model(name, ds, params)
    fresh.load_state_dict(fitted.state_dict())
    users = np.arange(30)
    np.testing.assert_array_equal(scores_of(fresh, users), scores_of(fitted, users))
    assert np.abs(scores_of(fresh, users)).max() > 0


def test_ease_refuses_a_catalogue_too_large_for_its_memory_limit() -> None:
    ds = dataset_of(random_binary(10, 2000, 0.01, 16))
    with pytest.raises(ConfigError, match=r"ease needs dense 2000 x 2000 matrices \(0\.1 GB.*use itemknn"):
        build_model("ease", ds, {"max_memory_gb": 0.05})
    with pytest.raises(ConfigError, match="cease needs dense 2000 x 2000"):
        build_model("cease", dataset_of(random_binary(10, 2000, 0.01, 16),
                                        {"text": np.ones((2000, 2), dtype=np.float32)}), {"max_memory_gb": 0.05})


@pytest.mark.parametrize(("name", "raw", "field"), [
    ("ease", {"reg_weight": "0"}, "params.reg_weight"),
    ("ease", {"max_memory_gb": "-1"}, "params.max_memory_gb"),
    ("cease", {"content_weight": "-1"}, "params.content_weight"),
    ("cease", {"reg_weight": "-5"}, "params.reg_weight"),
    ("itemknn", {"k": "0"}, "params.k"),
    ("itemknn", {"shrink": "-1"}, "params.shrink"),
    ("itemknn_cbf", {"k": "-3"}, "params.k"),
    ("itemknn_cbf", {"shrink": "-0.5"}, "params.shrink"),
])
def test_bad_params_are_refused_up_front_naming_the_field(name: str, raw: dict, field: str) -> None:
    from alignrec.config import Override

    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        resolve_params(name, {key: Override(value) for key, value in raw.items()})


def test_a_non_trainable_run_trains_saves_and_reloads(tmp_path: Path, tiny_folder: Path) -> None:
    """The run path: no epochs, best.pt written, load_run scores the same as the trained model."""
    from alignrec import DataConfig, RunConfig, RuntimeOptions, train
    from alignrec.runs import evaluate_run, load_run

    config = RunConfig(data=DataConfig(path=str(tiny_folder)), model="itemknn", params={"k": 3})
    result = train(config, run_dir=tmp_path / "run", runtime=RuntimeOptions(progress=False))
    assert result.history == [] and (tmp_path / "run" / "best.pt").is_file()
    loaded = load_run(tmp_path / "run")
    assert evaluate_run(loaded, "test").means == pytest.approx(result.test)
