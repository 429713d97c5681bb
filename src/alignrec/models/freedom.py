"""FREEDOM: a frozen item-item graph from content plus a degree-pruned user-item graph.

Zhou and Shen, "A Tale of Two Graphs: Freezing and Denoising Graph Structures for Multimodal Recommendation",
ACM MM 2023 (arXiv 2211.06924). Implemented from the paper, with details the paper leaves open taken from reading
the authors' public code (enoche/MMRec):

* item-item graph: for each modality, each item's ``knn_k`` nearest items by cosine similarity of the raw feature
  (itself included), as a binary matrix normalised ``D^-1/2 A D^-1/2``; the modalities' graphs are summed with
  weights (image 0.1, text 0.9 when exactly those two are present, as the authors do; equal weights otherwise).
  Built once, frozen.
* user-item graph: LightGCN (mean of ``n_ui_layers + 1`` layer outputs) over a graph from which, at the start of
  every epoch, a share ``dropout`` of the training edges is dropped, an edge being kept with probability
  proportional to ``1 / sqrt(d_u d_i)`` (degree-sensitive pruning); scoring uses the full graph.
* item embedding = LightGCN item embedding + the ID embeddings propagated ``n_mm_layers`` times over the item
  graph; score = dot product.
* loss: BPR on those embeddings + ``modal_weight`` x (BPR of the users against each modality's projected feature;
  the authors' ``reg_weight``, 0 at their defaults, so the features then act through the item graph only).

Any number of modalities; ``feature`` names one matrix (e.g. ``unified``) to use instead of the modalities.
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
from alignrec.models.graph import SparseOperator, degree_sensitive_keep, modality_knn_graph, normalized_bipartite
from alignrec.models.losses import bpr_loss


@dataclass
class FREEDOMParams:
    """Defaults are the authors' (MMRec's FREEDOM configuration; their grid: dropout {0.8, 0.9}, reg_weight
    {0, 1e-5, 1e-4, 1e-3} -- here ``modal_weight``). Train it with ``train.lr_decay=1`` to match their constant
    learning rate."""

    embedding_dim: int = 64
    n_ui_layers: int = 2
    n_mm_layers: int = 1
    knn_k: int = 10
    dropout: float = 0.8
    modal_weight: float = 0.0
    image_weight: float = 0.1
    feature: str | None = None


@register
class FREEDOM(Recommender):
    """Frozen content kNN item graph + degree-pruned user-item graph (FREEDOM, ACM MM 2023)."""

    name = "freedom"
    Params = FREEDOMParams
    search_space = {"params.dropout": [0.8, 0.9], "params.modal_weight": [0.0, 1e-5, 1e-4, 1e-3]}
    scores_unseen_items = True  # an item without interactions still gets its content neighbours' embeddings

    def __init__(self, dataset: Dataset, params: FREEDOMParams) -> None:
        super().__init__(dataset, params)
        self.train_pairs = dataset.train
        d = params.embedding_dim
        self.user_emb, self.item_emb = id_embeddings(self.n_users, self.n_items, d)
        features = modality_inputs(dataset, params.feature)
        self.modalities = sorted(features)
        self.features = trainable_copies(features)
        self.project = nn.ModuleList([nn.Linear(features[m].shape[1], d) for m in self.modalities])
        self.item_graph = SparseOperator(modality_knn_graph(features, params.knn_k, params.image_weight),
                                         symmetric=True)
        self.full_adj = SparseOperator(normalized_bipartite(dataset.train, self.n_users, self.n_items), symmetric=True)
        self.train_adj = self.full_adj  # replaced by a pruned graph at every epoch start

    def on_epoch_start(self, epoch: int, rng: np.random.Generator) -> None:
        if self.params.dropout <= 0:
            return
        kept = degree_sensitive_keep(self.train_pairs, self.n_users, self.n_items, 1.0 - self.params.dropout, rng)
        pruned = SparseOperator(normalized_bipartite(kept, self.n_users, self.n_items), symmetric=True)
        self.train_adj = pruned.to(self.user_emb.weight.device)

    def propagate(self, adj: SparseOperator) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.item_emb.weight
        for _ in range(self.params.n_mm_layers):
            h = self.item_graph(h)
        ego = torch.cat([self.user_emb.weight, self.item_emb.weight])
        out = adj.layer_mean(ego, self.params.n_ui_layers)
        return out[: self.n_users], out[self.n_users:] + h

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.propagate(self.full_adj)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        user_all, item_all = self.propagate(self.train_adj)
        u = user_all[users]
        bpr = bpr_loss((u * item_all[pos]).sum(1), (u * item_all[neg]).sum(1))
        terms = {"bpr": bpr}
        modal = bpr * 0.0
        if self.params.modal_weight > 0:
            for feature, project in zip(self.features, self.project):
                f = project(feature)
                modal = modal + bpr_loss((u * f[pos]).sum(1), (u * f[neg]).sum(1))
            terms["modal"] = modal
        terms["loss"] = bpr + self.params.modal_weight * modal
        return terms

    def content_input(self, dataset: Dataset) -> np.ndarray:
        return concatenated_inputs(dataset, self.params.feature)

    def hide_item_content(self, hidden: np.ndarray) -> None:
        hide_in_copies(self.features, hidden)
