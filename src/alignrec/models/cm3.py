"""CM3: calibrated uniformity from the items' multimodal similarity, and spherical Bézier fusion of modalities.

"CM3: Calibrating Multimodal Recommendation" (2025; the authors' code is github.com/enoche/CM3). Implemented
from the paper, with details taken from reading that code:

* channels: one per modality (items: an MLP of the raw feature; users: a free preference vector) and a shared one
  (items: the spherical Bézier fusion of the modalities' linear projections, at a point drawn per item from
  Beta(α, α) while training and at its mean, 0.5, when scoring; users: a free vector); each channel L2-normalised,
  concatenated, propagated over the user-item graph (sum of ``n_ui_layers + 1`` layers);
* users weigh their channels with a learned softmax; items add their FREEDOM-style frozen kNN item-graph
  neighbourhood (``n_mm_layers``);
* loss on the L2-normalised user / item vectors: alignment of users with their positives, plus ``gamma`` times
  the mean of the users' uniformity and the negatives' calibrated uniformity, whose pairwise similarity is the
  fused vectors' cosine clamped to ``[min_sim, max_sim]``; scores are dot products of the unnormalised vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.models.base import Recommender, register
from alignrec.models.content import modality_inputs
from alignrec.models.fusion import spherical_bezier
from alignrec.models.graph import SparseOperator, modality_knn_graph, normalized_bipartite
from alignrec.models.losses import alignment_loss, calibrated_uniformity_loss, pair_similarities, uniformity_loss


@dataclass
class CM3Params:
    """Defaults are the first values of the authors' grids (CM3.yaml: n_ui_layers {3, 4}, gamma {0.5, 0.9},
    max_sim {0.8, 1.0}, alpha {0.1, 0.5, 0.9}, weight_decay {0, 1e-6})."""

    embedding_dim: int = 64
    n_ui_layers: int = 3
    n_mm_layers: int = 1
    knn_k: int = 10
    image_weight: float = 0.1
    gamma: float = 0.5
    min_sim: float = 0.0
    max_sim: float = 0.8
    alpha: float = 0.1
    weight_decay: float = 0.0
    feature: str | None = None


def xavier_normal(rows: int, cols: int) -> nn.Parameter:
    return nn.Parameter(nn.init.xavier_normal_(torch.empty(rows, cols)))


@register
class CM3(Recommender):
    """Calibrated uniformity + spherical Bézier fusion over a multi-channel LightGCN (CM3, 2025)."""

    name = "cm3"
    Params = CM3Params
    scores_unseen_items = True  # an item's channels come from its content
    search_space = {"params.n_ui_layers": [3, 4], "params.gamma": [0.5, 0.9], "params.max_sim": [0.8, 1.0],
                    "params.alpha": [0.1, 0.5, 0.9], "params.weight_decay": [0.0, 1e-6]}

    def __init__(self, dataset: Dataset, params: CM3Params) -> None:
        super().__init__(dataset, params)
        d = params.embedding_dim
        features = modality_inputs(dataset, params.feature)
        self.modalities = sorted(features)
        for n, m in enumerate(self.modalities):
            self.register_buffer(f"raw_{n}", torch.from_numpy(np.asarray(features[m], dtype=np.float32)))
        self.item_mlp = nn.ModuleList([nn.Sequential(nn.Linear(features[m].shape[1], 4 * d), nn.LeakyReLU(),
                                                     nn.Linear(4 * d, d, bias=False)) for m in self.modalities])
        self.fusion_proj = nn.ModuleList([nn.Linear(features[m].shape[1], d) for m in self.modalities])
        for layer in self.fusion_proj:
            nn.init.xavier_normal_(layer.weight)
        self.user_pref = nn.ParameterList([xavier_normal(self.n_users, d) for _ in range(len(self.modalities) + 1)])
        self.user_channel_logits = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users,
                                                                                   len(self.modalities) + 1, 1)))
        self.adj = SparseOperator(normalized_bipartite(dataset.train, self.n_users, self.n_items), symmetric=True)
        self.item_graph = SparseOperator(modality_knn_graph(features, params.knn_k, params.image_weight),
                                         symmetric=True)

    def raw(self) -> list[torch.Tensor]:
        return [getattr(self, f"raw_{n}") for n in range(len(self.modalities))]

    def fused(self, train: bool) -> torch.Tensor:
        """The items' shared-channel vectors: the spherical Bézier fusion of the modality projections."""
        points = [proj(x) for proj, x in zip(self.fusion_proj, self.raw())]
        if len(points) == 1:
            return nn.functional.normalize(points[0], dim=1)
        alpha = torch.tensor(self.params.alpha, device=points[0].device)
        t = (torch.distributions.Beta(alpha, alpha).sample((self.n_items,)) if train
             else torch.full((self.n_items,), 0.5, device=points[0].device))
        return spherical_bezier(points, t)

    def forward_all(self, train: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unnormalised user and item vectors and the fused item vectors."""
        fused = self.fused(train)
        items = [mlp(x) for mlp, x in zip(self.item_mlp, self.raw())] + [fused]
        channels = [torch.cat([u, i]) for u, i in zip(self.user_pref, items)]
        x = torch.cat([nn.functional.normalize(c, dim=1) for c in channels], dim=1)
        total = x
        for _ in range(self.params.n_ui_layers):
            x = self.adj(x)
            total = total + x
        d, n_channels = self.params.embedding_dim, len(channels)
        weights = torch.softmax(self.user_channel_logits, dim=1)
        users = total[: self.n_users].view(self.n_users, n_channels, d) * weights
        item_rep = total[self.n_users:]
        h = item_rep
        for _ in range(self.params.n_mm_layers):
            h = self.item_graph(h)
        return users.reshape(self.n_users, n_channels * d), item_rep + h, fused

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self.forward_all(train=False)
        return users, items

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        user_all, item_all, fused = self.forward_all(train=True)
        u = nn.functional.normalize(user_all[users], dim=1)
        i_pos = nn.functional.normalize(item_all[pos], dim=1)
        i_neg = nn.functional.normalize(item_all[neg], dim=1)
        align = alignment_loss(u, i_pos)
        similarity = pair_similarities(fused[neg], p.min_sim, p.max_sim)
        uniform = p.gamma * (uniformity_loss(u) + calibrated_uniformity_loss(i_neg, similarity)) / 2
        return {"loss": align + uniform, "align": align, "uniform": uniform}

    def parameter_groups(self) -> list[dict[str, Any]]:
        return [{"params": [q for q in self.parameters() if q.requires_grad], "weight_decay": self.params.weight_decay}]
