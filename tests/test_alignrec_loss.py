"""AlignRec's loss and gradients against an independent dense re-computation of SPEC.md's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignrec.data import Dataset
from alignrec.models.alignrec import AlignRec, AlignRecParams


def tiny_dataset() -> Dataset:
    rng = np.random.default_rng(3)
    train = np.array([[0, 0], [0, 1], [1, 1], [1, 2], [2, 3], [2, 0], [3, 4], [3, 2], [1, 5], [2, 5]])
    features = {"unified": rng.normal(size=(6, 5)).astype(np.float32)}
    empty = np.zeros((0, 2), dtype=np.int64)
    return Dataset("tiny", 4, 6, train, empty, empty, np.arange(4).astype(str), np.arange(6).astype(str), features)


def dense_knn(f: torch.Tensor, k: int) -> torch.Tensor:
    n = f.shape[0]
    cos = torch.zeros(n, n, dtype=f.dtype)
    for a in range(n):
        for b in range(n):
            cos[a, b] = f[a] @ f[b] / (f[a].norm() * f[b].norm())
    adj = torch.zeros(n, n, dtype=f.dtype)
    for a in range(n):
        for b in sorted(range(n), key=lambda j: -cos[a, j])[:k]:
            adj[a, b] = cos[a, b]
    d = adj.sum(1).pow(-0.5)
    return d[:, None] * adj * d[None, :]


def dense_loss(model: AlignRec, ds: Dataset, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
               p: AlignRecParams) -> torch.Tensor:
    n_u, n_i = ds.n_users, ds.n_items
    r = torch.zeros(n_u, n_i, dtype=torch.float64)
    r[ds.train[:, 0], ds.train[:, 1]] = 1
    a = torch.zeros(n_u + n_i, n_u + n_i, dtype=torch.float64)
    a[:n_u, n_u:], a[n_u:, :n_u] = r, r.T
    deg = a.sum(1)
    dinv = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    a_hat = dinv[:, None] * a * dinv[None, :]
    ego = torch.cat([model.user_emb.weight, model.item_emb.weight])
    layers = [ego]
    for _ in range(p.n_layers):
        layers.append(a_hat @ layers[-1])
    id_all = torch.stack(layers).mean(0)
    u_id, i_id = id_all[:n_u], id_all[n_u:]
    f0 = torch.from_numpy(ds.features["unified"]).double()
    c = model.feature @ model.project.weight.T + model.project.bias
    h = model.item_emb.weight * torch.sigmoid(c @ model.gate.weight.T + model.gate.bias)
    h = dense_knn(f0, p.knn_k) @ h
    u_c = a_hat[:n_u, n_u:] @ h
    uf, itf = u_id + u_c, i_id + h
    u, ip, ineg = uf[users], itf[pos], itf[neg]
    b = len(users)
    bpr = -torch.log(torch.sigmoid((u * ip).sum(1) - (u * ineg).sum(1))).mean()
    reg = p.reg_weight * 0.5 * (u.pow(2).sum() + ip.pow(2).sum() + ineg.pow(2).sum()) / b
    cos_ui = ((u * ip).sum(1) / (u.norm(dim=1) * ip.norm(dim=1))).mean()

    def nce(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x / x.norm(dim=1, keepdim=True)
        y = y / y.norm(dim=1, keepdim=True)
        s = torch.exp(x @ y.T / p.temperature)
        return -torch.log(torch.diag(s) / s.sum(1)).mean()

    target = model.feature if p.sim_target == "trainable" else f0
    hb, fb = h[pos], target[pos] / target[pos].norm(dim=1, keepdim=True)
    sim = torch.sqrt(((hb @ hb.T - fb @ fb.T) ** 2).sum()) / b
    return (bpr + reg + p.ui_cos_weight * (1 - cos_ui)
            + p.align_weight * (nce(h[pos], i_id[pos]) + nce(u_c[users], u_id[users])) + p.sim_weight * sim)


@pytest.mark.parametrize(("knn_k", "sim_target"), [(2, "fixed"), (3, "fixed"), (3, "trainable")])
def test_loss_and_gradients_match_dense_formulas(knn_k: int, sim_target: str) -> None:
    ds = tiny_dataset()
    params = AlignRecParams(knn_k=knn_k, align_weight=0.3, sim_weight=0.5, embedding_dim=4, sim_target=sim_target)
    torch.manual_seed(0)
    model = AlignRec(ds, params).double()
    with torch.no_grad():  # as after some training: the trainable copy has moved away from F0
        model.feature.add_(0.3 * torch.randn_like(model.feature))
    # users 1 and items 2 repeat in the batch, as popular ones do
    users, pos, neg = torch.tensor([0, 1, 2, 3, 1]), torch.tensor([1, 2, 0, 4, 2]), torch.tensor([3, 0, 1, 0, 4])

    ours = model.loss(users, pos, neg)["loss"]
    grads = torch.autograd.grad(ours, list(model.parameters()))
    reference = dense_loss(model, ds, users, pos, neg, params)
    ref_grads = torch.autograd.grad(reference, list(model.parameters()))

    assert ours.item() == pytest.approx(reference.item(), abs=1e-5)
    for (name, _), g, rg in zip(model.named_parameters(), grads, ref_grads):
        assert torch.allclose(g, rg, atol=1e-5), name


def test_bf16_contrastive_products_stay_close_to_float32() -> None:
    ds = tiny_dataset()
    users, pos, neg = torch.tensor([0, 1, 2, 3, 1]), torch.tensor([1, 2, 0, 4, 5]), torch.tensor([3, 0, 1, 0, 4])
    results = []
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = AlignRec(ds, AlignRecParams(embedding_dim=8, align_weight=1.0, contrastive_bf16=bf16))
        align = model.loss(users, pos, neg)["align"]
        results.append((align, torch.autograd.grad(align, [model.user_emb.weight, model.item_emb.weight])))
    (exact, exact_grads), (low, low_grads) = results
    assert low.item() == pytest.approx(exact.item(), rel=1e-2)
    for g, lg in zip(exact_grads, low_grads):
        assert torch.nn.functional.cosine_similarity(g.flatten(), lg.flatten(), dim=0) > 0.99
        assert not torch.equal(g, lg)  # the option really changes the arithmetic


def dense_cooccurrence(train: np.ndarray, n_users: int, n_items: int, k: int) -> torch.Tensor:
    r = torch.zeros(n_users, n_items, dtype=torch.float64)
    r[train[:, 0], train[:, 1]] = 1.0
    counts = r.T @ r
    counts.fill_diagonal_(0.0)
    graph = torch.zeros(n_items, n_items, dtype=torch.float64)
    popular = sorted(range(n_items), key=lambda j: -r[:, j].sum().item())[:k]
    for a in range(n_items):
        nbrs = [b for b in sorted(range(n_items), key=lambda j: (-counts[a, j].item(), j)) if counts[a, b] > 0][:k]
        if nbrs:
            graph[a, nbrs] = torch.softmax(counts[a, nbrs], dim=0)
        else:
            graph[a, popular] = 1.0 / len(popular)
    return graph


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_cooccurrence_weight_mixes_the_item_graph(weight: float) -> None:
    ds = tiny_dataset()
    model = AlignRec(ds, AlignRecParams(embedding_dim=8, knn_k=3, cooccurrence_weight=weight, cooccurrence_k=2))
    f0 = torch.from_numpy(ds.features["unified"]).double()
    expected = (1 - weight) * dense_knn(f0, 3) + weight * dense_cooccurrence(ds.train, 4, 6, 2)
    x = torch.eye(6, dtype=torch.float32)
    assert torch.allclose(model.item_graph(x).double(), expected, atol=1e-5)


@pytest.mark.parametrize("field, value", [("cooccurrence_weight", 1.5), ("cooccurrence_weight", -0.1),
                                          ("cooccurrence_k", 0)])
def test_bad_cooccurrence_settings_name_the_field(field: str, value: float) -> None:
    from alignrec.errors import ConfigError

    with pytest.raises(ConfigError, match=f"params.{field}"):
        AlignRecParams(**{field: value})


def test_in_batch_softmax_matches_a_loop_over_rows() -> None:
    from alignrec.models.losses import in_batch_softmax_loss

    rng = torch.Generator().manual_seed(0)
    users, candidates = torch.randn(5, 4, generator=rng), torch.randn(7, 4, generator=rng)
    targets = torch.tensor([0, 3, 3, 6, 1])
    expected = torch.stack([torch.logsumexp(candidates @ users[b] / 0.5, 0) - candidates[targets[b]] @ users[b] / 0.5
                            for b in range(5)]).mean()
    assert torch.allclose(in_batch_softmax_loss(users, candidates, targets, 0.5), expected, atol=1e-6)


def test_softmax_rec_loss_sees_each_candidate_item_once() -> None:
    ds = tiny_dataset()
    torch.manual_seed(0)
    model = AlignRec(ds, AlignRecParams(embedding_dim=8, knn_k=3, rec_loss="softmax"))
    users, pos, neg = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 1, 3, 4]), torch.tensor([2, 5, 1, 0])
    terms = model.loss(users, pos, neg)
    out = model.forward_all()
    u, items = out.users[users], out.items
    # candidates {0, 1, 2, 3, 4, 5}: every item once, though item 1 is a positive twice and a negative once
    expected = torch.stack([torch.logsumexp(items @ u[b], 0) - items[pos[b]] @ u[b] for b in range(4)]).mean()
    assert "bpr" not in terms and torch.allclose(terms["softmax"], expected, atol=1e-5)
    with pytest.raises(Exception, match="params.rec_loss"):
        AlignRecParams(rec_loss="ce")


def test_item_item_term_adds_ease_z_scores_to_the_ranking() -> None:
    from alignrec.models.ease import EASE, EASEParams
    from alignrec.models.linear import standardised_rows

    ds = tiny_dataset()
    torch.manual_seed(0)
    plain = AlignRec(ds, AlignRecParams(embedding_dim=8, knn_k=3))
    torch.manual_seed(0)
    blended = AlignRec(ds, AlignRecParams(embedding_dim=8, knn_k=3, item_item_weight=0.5, item_item_reg=2.0))
    ease = EASE(ds, EASEParams(reg_weight=2.0))
    ease.fit(ds)
    users = torch.arange(4)
    with torch.no_grad():
        expected = standardised_rows(plain.score(users)) + 0.5 * standardised_rows(ease.score(users))
        assert torch.allclose(blended.score(users), expected, atol=1e-5)
    z = standardised_rows(torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 8.0]]))
    assert torch.allclose(z.mean(1), torch.zeros(2), atol=1e-6) and torch.allclose(z.std(1), torch.ones(2))
    assert blended.embeddings() is None  # exported as a score matrix, not as dot products
    assert set(blended.state_dict()) == set(plain.state_dict())  # B is rebuilt from the training split, not saved
    with pytest.raises(Exception, match="params.item_item_weight"):
        AlignRecParams(item_item_weight=-1.0)
