"""LightGCN: linear propagation of ID embeddings over the normalised user-item graph.

He, Deng, Wang, Li, Zhang, Wang, "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignrec.data import Dataset
from alignrec.models.base import Recommender, register
from alignrec.models.embedding import id_embeddings
from alignrec.models.graph import SparseOperator, normalized_bipartite
from alignrec.models.losses import bpr_loss, l2_reg_of_rows


@dataclass
class LightGCNParams:
    embedding_dim: int = 64
    n_layers: int = 2
    reg_weight: float = 1e-4


@register
class LightGCN(Recommender):
    """ID embeddings ``[n_users + n_items, d]`` averaged over ``n_layers`` graph propagations."""

    name = "lightgcn"
    Params = LightGCNParams
    # MMRec's LightGCN grid
    search_space = {"params.n_layers": [1, 2, 3, 4], "params.reg_weight": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]}

    def __init__(self, dataset: Dataset, params: LightGCNParams) -> None:
        super().__init__(dataset, params)
        self.user_emb, self.item_emb = id_embeddings(self.n_users, self.n_items, params.embedding_dim)
        self.adj = SparseOperator(normalized_bipartite(dataset.train, self.n_users, self.n_items), symmetric=True)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.adj.layer_mean(self.ego(), self.params.n_layers)
        return out[: self.n_users], out[self.n_users:]

    def ego(self) -> torch.Tensor:
        """Users' then items' ID embeddings, ``[n_users + n_items, d]``."""
        return torch.cat([self.user_emb.weight, self.item_emb.weight])

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        ego = self.ego()
        out = self.adj.layer_mean(ego, self.params.n_layers)
        # one gather for the three roles: its backward is one scatter instead of three
        rows = torch.cat([users, pos + self.n_users, neg + self.n_users])
        u, p, n = out.index_select(0, rows).split(len(users))
        bpr = bpr_loss((u * p).sum(1), (u * n).sum(1))
        reg = self.params.reg_weight * l2_reg_of_rows(ego, rows, len(users))
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}
