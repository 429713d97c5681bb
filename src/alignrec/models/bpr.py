"""BPR-MF: matrix factorisation trained with Bayesian Personalised Ranking.

Rendle, Freudenthaler, Gantner, Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from Implicit
Feedback", UAI 2009.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alignrec.data import Dataset
from alignrec.models.base import Recommender, register
from alignrec.models.embedding import id_embeddings
from alignrec.models.losses import bpr_loss, l2_reg


@dataclass
class BPRParams:
    embedding_dim: int = 64
    reg_weight: float = 1e-4


@register
class BPR(Recommender):
    """User and item embeddings ``[n, embedding_dim]``; score = dot product."""

    name = "bpr"
    Params = BPRParams
    search_space = {"train.lr": [1e-4, 5e-4, 1e-3, 5e-3], "params.reg_weight": [0.0, 1e-5, 1e-4, 1e-3]}

    def __init__(self, dataset: Dataset, params: BPRParams) -> None:
        super().__init__(dataset, params)
        self.user_emb, self.item_emb = id_embeddings(self.n_users, self.n_items, params.embedding_dim)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        u, p, n = self.user_emb(users), self.item_emb(pos), self.item_emb(neg)
        bpr = bpr_loss((u * p).sum(1), (u * n).sum(1))
        reg = self.params.reg_weight * l2_reg(u, p, n)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}
