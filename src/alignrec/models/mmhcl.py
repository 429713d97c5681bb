"""MMHCL: user-user and item-item hypergraphs with synergistic contrastive learning.

"MMHCL: Multi-Modal Hypergraph Contrastive Learning for Recommendation" (2025; the authors' code is
github.com/Xu107/MMHCL). Implemented from the paper, with details taken from reading that code:

* item-item graph from a multimodal hypergraph: each item's binary kNN set (``knn_k``) in each modality is a
  hyperedge; items are linked by the hyperedges they share (:func:`alignrec.models.graph.hypergraph_item_graph`);
* user-user graph: users linked by the items they share, row-normalised;
* separate item and user embeddings propagated over those graphs (``item_layers``, ``user_layers``), added after
  L2 normalisation to the LightGCN embeddings (``n_layers``) of the user-item graph;
* loss: BPR + ``reg_weight`` x L2 of the batch's final embeddings + node-level InfoNCE between the final and the
  hypergraph views of every item (``item_weight``) and every user (``user_weight``).

The authors sample users uniformly for their BPR batches; here the batches are the trainer's (interactions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.models.base import Recommender, register
from alignrec.models.content import modality_inputs
from alignrec.models.embedding import id_embeddings
from alignrec.models.graph import (
    SparseOperator,
    hypergraph_item_graph,
    normalized_bipartite,
    user_cooccurrence_graph,
)
from alignrec.models.losses import bpr_loss, l2_reg, node_contrastive_loss


@dataclass
class MMHCLParams:
    """Defaults are the authors' (their parser; they train with lr 1e-4: ``train.lr=0.0001``)."""

    embedding_dim: int = 64
    n_layers: int = 2
    item_layers: int = 2
    user_layers: int = 3
    knn_k: int = 5
    item_weight: float = 0.07
    user_weight: float = 0.03
    temperature: float = 0.6
    reg_weight: float = 1e-3
    feature: str | None = None


@register
class MMHCL(Recommender):
    """LightGCN + user-user and multimodal item-item hypergraph views, contrasted node by node (MMHCL, 2025)."""

    name = "mmhcl"
    Params = MMHCLParams
    scores_unseen_items = True  # an item without interactions gets its hypergraph neighbours' embedding
    search_space = {"params.item_weight": [0.01, 0.03, 0.05, 0.07, 0.1], "params.user_weight": [0.01, 0.03, 0.05],
                    "params.temperature": [0.2, 0.4, 0.6, 0.8], "train.lr": [1e-4, 5e-4, 1e-3]}

    def __init__(self, dataset: Dataset, params: MMHCLParams) -> None:
        super().__init__(dataset, params)
        d = params.embedding_dim
        self.user_emb, self.item_emb = id_embeddings(self.n_users, self.n_items, d)
        self.user_view, self.item_view = id_embeddings(self.n_users, self.n_items, d)
        features = modality_inputs(dataset, params.feature)
        self.adj = SparseOperator(normalized_bipartite(dataset.train, self.n_users, self.n_items), symmetric=True)
        self.item_graph = SparseOperator(hypergraph_item_graph(features, params.knn_k), symmetric=True)
        self.user_graph = SparseOperator(user_cooccurrence_graph(dataset.train, self.n_users, self.n_items))

    def forward_all(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Final user and item embeddings, and the user-user and item-item views."""
        p = self.params
        items_view, users_view = self.item_view.weight, self.user_view.weight
        for _ in range(p.item_layers):
            items_view = self.item_graph(items_view)
        for _ in range(p.user_layers):
            users_view = self.user_graph(users_view)
        ego = torch.cat([self.user_emb.weight, self.item_emb.weight])
        out = self.adj.layer_mean(ego, p.n_layers)
        users = out[: self.n_users] + nn.functional.normalize(users_view, dim=1)
        items = out[self.n_users:] + nn.functional.normalize(items_view, dim=1)
        return users, items, users_view, items_view

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _, _ = self.forward_all()
        return users, items

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        user_all, item_all, users_view, items_view = self.forward_all()
        u, i_pos, i_neg = user_all[users], item_all[pos], item_all[neg]
        bpr = bpr_loss((u * i_pos).sum(1), (u * i_neg).sum(1))
        reg = p.reg_weight * l2_reg(u, i_pos, i_neg)
        contrast = (p.item_weight * node_contrastive_loss(item_all, items_view, p.temperature)
                    + p.user_weight * node_contrastive_loss(user_all, users_view, p.temperature))
        return {"loss": bpr + reg + contrast, "bpr": bpr, "reg": reg, "contrast": contrast}
