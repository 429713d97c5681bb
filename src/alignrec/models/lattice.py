"""LATTICE: an item-item structure learned from the modalities, mixed with the one the raw features give.

Zhang, Zhu, Liu, Wu, Wang, Wang, "Mining Latent Structures for Multimedia Recommendation", ACM MM 2021
(arXiv 2104.09036). Implemented from the paper, with details taken from reading the MMRec toolbox's version:

* per modality, the raw features' weighted cosine kNN graph (``knn_k`` neighbours, itself included, normalised
  ``D^-1/2 A D^-1/2``) is the original structure; the same construction over learned projections of trainable
  copies of the features is the learned structure; both are mixed over the modalities with the same learned
  softmax weights (the learned mix normalised again), and combined as ``(1 - λ) learned + λ original``
  (λ = ``lambda_coeff``);
* the item ID embeddings are propagated ``n_layers`` times over that graph; item embedding = the backbone's
  (LightGCN over ``D^-1 (A + I)``, mean of the layer outputs) + the L2-normalised propagated embedding;
* as in the toolbox, the learned structure is rebuilt (with gradients) at the first step of every epoch and reused
  without gradients for the rest of it, and rebuilt for scoring.

Unlike the toolbox (dense ``n x n`` similarity matrices), neighbours are found in row blocks and only the
``n x k`` chosen similarities are recomputed with gradients, so memory is ``O(n k)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.models.base import Recommender, register
from alignrec.models.content import concatenated_inputs, hide_in_copies, modality_inputs, trainable_copies
from alignrec.models.embedding import id_embeddings
from alignrec.models.graph import SparseOperator, cosine_knn_graph, row_normalised_with_self_loops
from alignrec.models.losses import bpr_loss, l2_reg


@dataclass
class LATTICEParams:
    """Defaults are the authors' (MMRec's LATTICE configuration; grids there: reg_weight {0, 1e-5, 1e-4, 1e-3},
    lr {1e-4, 5e-4, 1e-3, 5e-3})."""

    embedding_dim: int = 64
    feat_embed_dim: int = 64
    n_ui_layers: int = 2
    n_layers: int = 1
    knn_k: int = 10
    lambda_coeff: float = 0.9
    reg_weight: float = 0.0
    feature: str | None = None


def knn_pairs(x: torch.Tensor, k: int, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices (each ``int64 [n k]``) of each row's top ``k`` rows of ``x`` by cosine similarity
    (itself included), found in row blocks without gradients."""
    with torch.no_grad():
        unit = nn.functional.normalize(x, dim=1)
        n, k = unit.shape[0], min(k, unit.shape[0])
        cols = torch.cat([torch.topk(unit[s:s + chunk] @ unit.T, k, dim=1).indices for s in range(0, n, chunk)])
    return torch.arange(n, device=x.device).repeat_interleave(k), cols.reshape(-1)


def learned_graph(projected: list[torch.Tensor], weights: torch.Tensor, k: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LATTICE's learned structure as ``(rows, cols, values)``: each modality's kNN cosine graph of its projected
    features (values differentiable), mixed by ``weights``, normalised ``D^-1/2 A D^-1/2``."""
    parts = []
    for x, w in zip(projected, weights):
        rows, cols = knn_pairs(x, k)
        unit = nn.functional.normalize(x, dim=1)
        parts.append((rows, cols, w * (unit[rows] * unit[cols]).sum(1)))
    rows = torch.cat([p[0] for p in parts])
    cols = torch.cat([p[1] for p in parts])
    values = torch.cat([p[2] for p in parts])
    n = projected[0].shape[0]
    degree = torch.zeros(n, dtype=values.dtype, device=values.device).index_add(0, rows, values)
    inv_sqrt = torch.where(degree > 0, degree.clamp_min(1e-12).rsqrt(), torch.zeros_like(degree))
    return rows, cols, values * inv_sqrt[rows] * inv_sqrt[cols]


def sparse_apply(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for ``A`` given as COO entries (differentiable in ``values`` and ``x``; duplicates add up)."""
    return torch.zeros_like(x).index_add(0, rows, values.unsqueeze(1) * x[cols])


@register
class LATTICE(Recommender):
    """Learned + original item-item structures over a LightGCN backbone (LATTICE, ACM MM 2021)."""

    name = "lattice"
    Params = LATTICEParams
    search_space = {"params.reg_weight": [0.0, 1e-5, 1e-4, 1e-3], "train.lr": [1e-4, 5e-4, 1e-3, 5e-3]}
    scores_unseen_items = True  # an item without interactions is reached through its content neighbours

    def __init__(self, dataset: Dataset, params: LATTICEParams) -> None:
        super().__init__(dataset, params)
        self.user_emb, self.item_emb = id_embeddings(self.n_users, self.n_items, params.embedding_dim)
        features = modality_inputs(dataset, params.feature)
        self.modalities = sorted(features)
        self.features = trainable_copies(features)
        self.project = nn.ModuleList([nn.Linear(features[m].shape[1], params.feat_embed_dim) for m in self.modalities])
        self.modal_logits = nn.Parameter(torch.full((len(self.modalities),), 1.0 / len(self.modalities)))
        self.original = nn.ModuleList([SparseOperator(cosine_knn_graph(features[m], params.knn_k), symmetric=True)
                                       for m in self.modalities])
        self.adj = SparseOperator(row_normalised_with_self_loops(dataset.train, self.n_users, self.n_items))
        self._learned: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._rebuild = True

    def on_epoch_start(self, epoch: int, rng: np.random.Generator) -> None:
        self._rebuild = True

    def item_structure(self, rebuild: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if rebuild or self._learned is None:
            projected = [project(f) for f, project in zip(self.features, self.project)]
            self._learned = learned_graph(projected, torch.softmax(self.modal_logits, 0), self.params.knn_k)
            return self._learned
        rows, cols, values = self._learned
        return rows, cols, values.detach()

    def propagate(self, rebuild: bool) -> tuple[torch.Tensor, torch.Tensor]:
        rows, cols, values = self.item_structure(rebuild)
        weights = torch.softmax(self.modal_logits, 0)
        lam = self.params.lambda_coeff
        h = self.item_emb.weight
        for _ in range(self.params.n_layers):
            original = sum(w * graph(h) for w, graph in zip(weights, self.original))
            h = (1 - lam) * sparse_apply(rows, cols, values, h) + lam * original
        ego = torch.cat([self.user_emb.weight, self.item_emb.weight])
        out = self.adj.layer_mean(ego, self.params.n_ui_layers)
        return out[: self.n_users], out[self.n_users:] + nn.functional.normalize(h, dim=1)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.propagate(rebuild=True)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        user_all, item_all = self.propagate(rebuild=self._rebuild)
        self._rebuild = False
        u, p, n = user_all[users], item_all[pos], item_all[neg]
        bpr = bpr_loss((u * p).sum(1), (u * n).sum(1))
        reg = self.params.reg_weight * l2_reg(u, p, n)
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

    def content_input(self, dataset: Dataset) -> np.ndarray:
        return concatenated_inputs(dataset, self.params.feature)

    def hide_item_content(self, hidden: np.ndarray) -> None:
        hide_in_copies(self.features, hidden)
