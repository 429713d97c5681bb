"""REARM: homogeneous user and item graphs, per-modality attention, a meta-network, contrastive and orthogonal
losses between modalities.

"Refining Contrastive Learning and Homography Relations for Multi-Modal Recommendation" (Ma et al., ACM MM 2025,
arXiv 2508.13745). Implemented from the paper, with details it leaves open taken from reading the authors' public
code (MrShouxingMa/REARM):

* homogeneous graphs, sparse throughout: items ``ii_co_weight`` x (each item's ``item_knn_k`` strongest
  co-occurring items, weights a softmax of the shared-user counts; :func:`~alignrec.models.graph.cooccurrence_graph`)
  + ``1 - ii_co_weight`` x (modality kNN graphs by cosine similarity, mixed with ``item_image_weight``;
  :func:`~alignrec.models.graph.mean_similarity_knn_graph`); users the same with ``user_knn_k``, ``uu_co_weight``,
  ``user_image_weight``, the users' modality vectors being the mean feature of their training items;
* item and user rows ``[ID | projected modality 1 | ... | M]`` propagated ``n_homo_layers`` times over their
  homogeneous graph (last layer kept), L2-normalised, split back;
* items: per modality, self-attention over the ``d`` dimensions as scalar tokens, then cross-attention whose
  query is the other modalities (their mean when ``M > 2``), each with a residual, a shared LayerNorm and a
  shared PReLU; users: PReLU of their modality parts;
* heterogeneous graph: the modality parts and the ID parts propagated LightGCN-style (mean of ``n_layers + 1``
  layers) over the user-item graph, giving ``F_m`` and ``E``;
* meta-network: from the (gradient-free, as in the authors' code) knowledge vector of ``[F_1 .. F_M]``, two MLPs
  produce each node's low-rank maps ``W1 [d, rank]`` and ``W2 [rank, d]``; ``s = E W1 W2`` after softmaxes;
* final vector ``[PReLU(F_1) + E | ... | PReLU(F_M) + E | PReLU(s) + E]``; score = dot product;
* loss: BPR + ``cl_weight`` x InfoNCE between every pair of modality views ``F_m``, ``F_m'`` of the batch's
  unique users and unique items + ``orth_weight`` x the orthogonal constraint between the pairs
  (:func:`~alignrec.models.losses.orthogonality_loss`) on the batch's users and positive items.

Departures, for a CPU toolkit: the authors pad a node with fewer than ``k`` co-occurring neighbours by resampling
them (here it keeps what it has); they train with AdamW and ``reg_weight`` as its decoupled weight decay (here the
trainer's Adam with ``reg_weight`` as L2 weight decay); ID embeddings start Xavier-uniform as in every model here.
With one modality there is no pair, so no contrastive or orthogonal term.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.models.base import Recommender, register
from alignrec.models.content import concatenated_inputs, hide_in_copies, modality_inputs, trainable_copies
from alignrec.models.embedding import id_embeddings
from alignrec.models.graph import (
    SparseOperator,
    interaction_matrix,
    mean_similarity_knn_graph,
    mix_with_cooccurrence,
    normalized_bipartite,
)
from alignrec.models.losses import bpr_loss, info_nce, orthogonality_loss


@dataclass
class REARMParams:
    """Defaults are the authors' for Amazon Baby (their README; their parser defaults agree); they train with
    ``train.lr=0.00005`` and a constant learning rate (``train.lr_decay=1``)."""

    embedding_dim: int = 64
    n_layers: int = 4
    n_homo_layers: int = 1
    user_knn_k: int = 40
    item_knn_k: int = 10
    user_image_weight: float = 0.2
    item_image_weight: float = 0.0
    uu_co_weight: float = 0.4
    ii_co_weight: float = 0.2
    rank: int = 3
    self_dropout: float = 0.4
    cross_dropout: float = 0.6
    temperature: float = 0.6
    cl_weight: float = 5e-6
    orth_weight: float = 5e-5
    reg_weight: float = 5e-4
    feature: str | None = None


class ScalarTokenAttention(nn.Module):
    """Single-head attention whose tokens are the ``d`` scalar entries of a vector (``nn.MultiheadAttention`` with
    ``embed_dim=1``, as the authors use it): ``[n, d]`` queries and keys/values give ``[n, d]``, through an
    ``n x d x d`` attention map."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.in_weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(3, 1)).view(3))
        self.in_bias = nn.Parameter(torch.zeros(3))
        self.out_weight = nn.Parameter(torch.ones(1))
        self.out_bias = nn.Parameter(torch.zeros(1))
        self.dropout = dropout

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q = query * self.in_weight[0] + self.in_bias[0]
        k = keys * self.in_weight[1] + self.in_bias[1]
        v = keys * self.in_weight[2] + self.in_bias[2]
        attention = torch.softmax(q.unsqueeze(2) * k.unsqueeze(1), dim=2)
        if self.training and self.dropout > 0:  # a uniform mask draws twice as fast as torch's dropout here
            keep = torch.rand_like(attention) >= self.dropout
            attention = attention * keep / (1.0 - self.dropout) if self.dropout < 1 else attention * 0.0
        return (attention @ v.unsqueeze(2)).squeeze(2) * self.out_weight + self.out_bias


class MetaNetwork(nn.Module):
    """Each node's low-rank linear map of its ID vector, generated from its knowledge vector."""

    def __init__(self, knowledge_dim: int, dim: int, rank: int) -> None:
        super().__init__()
        self.dim, self.rank = dim, rank
        self.knowledge = nn.Linear(knowledge_dim, dim)
        self.knowledge.requires_grad_(False)  # the authors detach its output: it stays a fixed random map
        self.first = nn.Sequential(nn.Linear(dim, dim * rank), nn.PReLU(), nn.Linear(dim * rank, dim * rank))
        self.second = nn.Sequential(nn.Linear(dim, dim * rank), nn.PReLU(), nn.Linear(dim * rank, dim * rank))

    def forward(self, modal: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        knowledge = self.knowledge(modal.detach())
        w1 = nn.functional.normalize(self.first(knowledge), dim=1).view(-1, self.dim, self.rank)
        w2 = nn.functional.normalize(self.second(knowledge), dim=1).view(-1, self.rank, self.dim)
        w1 = torch.softmax(w1 + w1.mean(0, keepdim=True), dim=1)
        w2 = torch.softmax(w2 + w2.mean(0, keepdim=True), dim=1)
        return torch.bmm(torch.bmm(ids.unsqueeze(1), w1), w2).squeeze(1)


def homogeneous_graph(interactions: sp.spmatrix, features: dict[str, np.ndarray], k: int, image_weight: float,
                      co_weight: float) -> sp.csr_matrix:
    """``co_weight`` x co-occurrence graph + ``1 - co_weight`` x modality similarity graph (REARM's user-user and
    item-item graphs); ``interactions`` has one row per node (``R`` for users, ``Rᵀ`` for items)."""
    return mix_with_cooccurrence(mean_similarity_knn_graph(features, k, image_weight), interactions, k, co_weight)


@register
class REARM(Recommender):
    """Homogeneous graphs + modality attention + meta-network, contrastive and orthogonal losses (REARM, 2025)."""

    name = "rearm"
    Params = REARMParams
    scores_unseen_items = True  # an item's modality parts come from its features and its item-graph neighbours
    # the authors publish per-dataset settings, not a grid: the values they use on Baby, Sports and Clothing
    search_space = {"params.n_layers": [4, 5], "params.rank": [3, 7], "params.temperature": [0.03, 0.6, 1.5],
                    "params.cl_weight": [1e-6, 5e-6, 1e-3], "params.orth_weight": [1e-5, 5e-5, 5e-4],
                    "params.reg_weight": [1e-5, 5e-4], "train.lr": [5e-5]}

    def __init__(self, dataset: Dataset, params: REARMParams) -> None:
        super().__init__(dataset, params)
        d = params.embedding_dim
        features = modality_inputs(dataset, params.feature)
        self.modalities = sorted(features)
        r = interaction_matrix(dataset.train, self.n_users, self.n_items)
        counts = np.maximum(np.asarray(r.sum(axis=1)).ravel(), 1.0)
        interests = {m: np.asarray(sp.diags(1.0 / counts) @ r @ features[m], dtype=np.float32) for m in features}
        self.user_emb, self.item_emb = id_embeddings(self.n_users, self.n_items, d)
        self.item_features, self.user_features = trainable_copies(features), trainable_copies(interests)
        self.item_project = nn.ModuleList([nn.Linear(features[m].shape[1], d) for m in self.modalities])
        self.user_project = nn.ModuleList([nn.Linear(features[m].shape[1], d) for m in self.modalities])
        for layer in [*self.item_project, *self.user_project]:
            nn.init.xavier_uniform_(layer.weight)
        self.item_graph = SparseOperator(homogeneous_graph(r.T, features, params.item_knn_k,
                                                           params.item_image_weight, params.ii_co_weight))
        self.user_graph = SparseOperator(homogeneous_graph(r, interests, params.user_knn_k,
                                                           params.user_image_weight, params.uu_co_weight))
        self.adj = SparseOperator(normalized_bipartite(dataset.train, self.n_users, self.n_items), symmetric=True)
        n_mod = len(self.modalities)
        self.self_attention = nn.ModuleList([ScalarTokenAttention(params.self_dropout) for _ in range(n_mod)])
        self.cross_attention = nn.ModuleList([ScalarTokenAttention(params.cross_dropout) for _ in range(n_mod)])
        self.norm, self.act = nn.LayerNorm(d), nn.PReLU()
        self.user_meta = MetaNetwork(n_mod * d, d, params.rank)
        self.item_meta = MetaNetwork(n_mod * d, d, params.rank)

    def parameter_groups(self) -> list[dict[str, Any]]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "weight_decay": self.params.reg_weight}]

    def homogeneous(self, ids: torch.Tensor, raw: nn.ParameterList, project: nn.ModuleList,
                    graph: SparseOperator) -> list[torch.Tensor]:
        """``[ID, modality 1, ...]`` parts after the homogeneous graph (each ``[n, d]``)."""
        h = torch.cat([ids] + [proj(x) for proj, x in zip(project, raw)], 1)
        for _ in range(self.params.n_homo_layers):
            h = graph(h)
        return list(nn.functional.normalize(h, dim=1).split(self.params.embedding_dim, dim=1))

    def attend(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        refined = [self.act(self.norm(x + att(x, x))) for x, att in zip(parts, self.self_attention)]
        if len(refined) == 1:
            return refined
        out = []
        for m, (x, att) in enumerate(zip(refined, self.cross_attention)):
            others = torch.stack([y for j, y in enumerate(refined) if j != m]).mean(0)
            out.append(self.act(self.norm(x + att(others, x))))
        return out

    def forward_all(self) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Final users ``[n_users, (M+1) d]``, items ``[n_items, (M+1) d]``, and the modality views ``F_m``
        ``[n_users + n_items, d]``."""
        d = self.params.embedding_dim
        item_id, *item_parts = self.homogeneous(self.item_emb.weight, self.item_features, self.item_project,
                                                self.item_graph)
        user_id, *user_parts = self.homogeneous(self.user_emb.weight, self.user_features, self.user_project,
                                                self.user_graph)
        user_parts = [self.act(x) for x in user_parts]
        item_parts = self.attend(item_parts)
        ego = torch.cat([torch.cat([user_id, *user_parts], 1), torch.cat([item_id, *item_parts], 1)])
        out = self.adj.layer_mean(ego, self.params.n_layers)
        ids, modal = out[:, :d], out[:, d:]
        views = list(modal.split(d, dim=1))
        shared = torch.cat([self.user_meta(modal[: self.n_users], ids[: self.n_users]),
                            self.item_meta(modal[self.n_users:], ids[self.n_users:])])
        final = torch.cat([self.act(v) + ids for v in views] + [self.act(shared) + ids], 1)
        return final[: self.n_users], final[self.n_users:], views

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self.forward_all()
        return users, items

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        user_all, item_all, views = self.forward_all()
        u = user_all[users]
        bpr = bpr_loss((u * item_all[pos]).sum(1), (u * item_all[neg]).sum(1))
        contrast, orth = bpr * 0.0, bpr * 0.0
        unique_users = torch.unique(users)
        unique_items = torch.unique(torch.cat([pos, neg])) + self.n_users
        for a, b in itertools.combinations(views, 2):
            contrast = contrast + info_nce(a[unique_users], b[unique_users], p.temperature)
            contrast = contrast + info_nce(a[unique_items], b[unique_items], p.temperature)
            orth = orth + orthogonality_loss(a[users], b[users])
            orth = orth + orthogonality_loss(a[pos + self.n_users], b[pos + self.n_users])
        return {"loss": bpr + p.cl_weight * contrast + p.orth_weight * orth, "bpr": bpr, "contrast": contrast,
                "orth": orth}

    def content_input(self, dataset: Dataset) -> np.ndarray:
        return concatenated_inputs(dataset, self.params.feature)

    def hide_item_content(self, hidden: np.ndarray) -> None:
        hide_in_copies(self.item_features, hidden)
