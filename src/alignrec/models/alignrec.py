"""AlignRec stage 2: content-category alignment and user-item alignment.

Liu, Chen, Jiang, Wang, Sun, Gai et al., "AlignRec: Aligning and Training in Multimodal
Recommendations", CIKM 2024 (arXiv 2403.12384). Implemented from the description in ``SPEC.md``:

* ID side: LightGCN over the normalised user-item graph.
* Content side: a trainable copy of the unified item feature ``F`` goes through (LayerNorm ->) Linear to
  ``c``; the gate ``h = e_item ⊙ σ(W_g c + b_g)`` is propagated over a frozen item-item cosine kNN graph
  built from the original ``F0``; users get ``R̂ h``.
* Fusion by sum, score by dot product.
* Loss: BPR + L2 + user-item cosine + α (InfoNCE content↔ID for items and users) + β similarity
  preservation ``‖H Hᵀ − cos(F0, F0)‖_F / B`` over the batch's positive items. Both batch terms are computed
  over the batch's distinct users and items, each weighted by its count (the same values, less work).
  ``sim_target="trainable"`` takes the target from the trainable feature copy instead of ``F0``, as the
  authors' code does (their ``nn.Embedding.from_pretrained(..., freeze=False)`` shares its storage, so that
  target drifts in training).
* ``cooccurrence_weight > 0`` (an extension, not in the paper; 0 by default) mixes the item-item graph with a
  co-occurrence graph of the training interactions, ``(1 - w) · kNN(F0) + w · co-occurrence``, the
  homogeneous item graph of REARM (Ma et al., "Refining Contrastive Learning and Homography Relations for
  Multi-Modal Recommendation", 2025); see :func:`~alignrec.models.graph.cooccurrence_graph`.
* ``rec_loss="softmax"`` (an extension, not in the paper; BPR by default) replaces BPR by a sampled softmax of
  each user's positive against the batch's distinct positives and negatives
  (:func:`~alignrec.models.losses.in_batch_softmax_loss`), a loss with many negatives per positive.
* ``item_item_weight = w > 0`` (an extension, not in the paper; 0 by default) adds an item-item term to the
  score: ``z(e_u · e_i) + w · z(X_u B)``, with ``B`` EASE's closed-form item-item weights of the training matrix
  (Steck, WWW 2019; ``item_item_reg`` is its λ) and ``z`` each user's z-scores. It changes no training step, only
  ranking (and so early stopping); ``B`` is dense, ``n_items²`` floats, and the catalogue is checked against
  :func:`~alignrec.models.linear.dense_fit_bytes`. Such a run scores by matrix, not by embedding dot products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.models.base import Recommender, register
from alignrec.models.embedding import id_embeddings
from alignrec.models.graph import (
    SparseOperator,
    cosine_knn_graph,
    interaction_matrix,
    mix_with_cooccurrence,
    normalized_bipartite,
    normalized_user_item,
)
from alignrec.models.linear import (
    dense_fit_bytes,
    ease_weights,
    gram_matrix,
    scores_dense_weights,
    sparse_rows,
    standardised_rows,
    train_rows,
)
from alignrec.models.losses import (
    bpr_loss,
    counted_info_nce,
    in_batch_softmax_loss,
    info_nce_by_id,
    l2_reg,
    similarity_gap,
)

GRAM_CACHE_MAX_ITEMS = 6000
ITEM_ITEM_MAX_GB = 16.0  # the dense item-item term's fit (about 20 n_items² bytes): ~28k items
COSINE_EPS = 1e-8  # as torch.nn.functional.cosine_similarity


@dataclass
class AlignRecParams:
    """Defaults are the authors' (embedding 64, 2 ID layers, 1 item layer, k = 10, α = 0.01, β = 0.1)."""

    embedding_dim: int = 64
    n_layers: int = 2
    n_item_layers: int = 1
    knn_k: int = 10
    reg_weight: float = 1e-4
    ui_cos_weight: float = 0.1
    align_weight: float = 0.01
    sim_weight: float = 0.1
    temperature: float = 0.2
    feature: str | None = None
    feature_layernorm: bool = False
    train_features: bool = True
    sim_target: str = "fixed"
    contrastive_bf16: bool = False
    cooccurrence_weight: float = 0.0
    cooccurrence_k: int = 10
    rec_loss: str = "bpr"
    softmax_temperature: float = 1.0
    item_item_weight: float = 0.0
    item_item_reg: float = 200.0

    def __post_init__(self) -> None:
        if self.rec_loss not in ("bpr", "softmax"):
            raise ConfigError(f"params.rec_loss must be 'bpr' or 'softmax', got {self.rec_loss!r}")
        if self.item_item_weight < 0:
            raise ConfigError(f"params.item_item_weight must be >= 0, got {self.item_item_weight}")
        if not self.item_item_reg > 0:
            raise ConfigError(f"params.item_item_reg must be positive, got {self.item_item_reg}")
        if self.softmax_temperature <= 0:
            raise ConfigError(f"params.softmax_temperature must be positive, got {self.softmax_temperature}")
        if self.sim_target not in ("fixed", "trainable"):
            raise ConfigError(f"params.sim_target must be 'fixed' or 'trainable', got {self.sim_target!r}")
        if not 0.0 <= self.cooccurrence_weight <= 1.0:
            raise ConfigError(f"params.cooccurrence_weight must be in [0, 1], got {self.cooccurrence_weight}")
        if self.cooccurrence_k < 1:
            raise ConfigError(f"params.cooccurrence_k must be at least 1, got {self.cooccurrence_k}")


@dataclass
class AlignRecOutputs:
    users: torch.Tensor
    items: torch.Tensor
    user_id: torch.Tensor
    item_id: torch.Tensor
    user_content: torch.Tensor
    item_content: torch.Tensor


@register
class AlignRec(Recommender):
    """AlignRec over one unified item feature matrix ``F [n_items, d_f]``."""

    name = "alignrec"
    Params = AlignRecParams
    # the authors' grids (SPEC.md): lr, alpha (align_weight), beta (sim_weight)
    search_space = {"train.lr": [1e-4, 5e-4, 1e-3, 5e-3], "params.align_weight": [1e-4, 1e-3, 5e-3, 0.01, 0.1],
                    "params.sim_weight": [0.1, 0.2, 0.3, 0.4, 0.5]}
    scores_unseen_items = True  # an item's content-side embedding comes from its feature, trained or not

    def __init__(self, dataset: Dataset, params: AlignRecParams) -> None:
        super().__init__(dataset, params)
        feature = self.content_input(dataset)
        d = params.embedding_dim
        self.user_emb, self.item_emb = id_embeddings(self.n_users, self.n_items, d)
        self.feature = nn.Parameter(torch.from_numpy(feature.copy()), requires_grad=params.train_features)
        self.norm = nn.LayerNorm(feature.shape[1]) if params.feature_layernorm else nn.Identity()
        self.project = nn.Linear(feature.shape[1], d)
        self.gate = nn.Linear(d, d)
        feature0 = torch.nn.functional.normalize(torch.from_numpy(feature), dim=1)
        self.register_buffer("feature0", feature0, persistent=False)
        # ‖cos(F0[b], F0[b])‖² is a fixed number per batch; with the squared Gram matrix of a small catalogue
        # it is a cheap quadratic form in the batch's item counts.
        gram_sq = (feature0 @ feature0.T).pow(2) if self.n_items <= GRAM_CACHE_MAX_ITEMS else torch.empty(0)
        self.register_buffer("feature_gram_sq", gram_sq, persistent=False)
        self.adj = SparseOperator(normalized_bipartite(dataset.train, self.n_users, self.n_items), symmetric=True)
        self.user_item = SparseOperator(normalized_user_item(dataset.train, self.n_users, self.n_items))
        self.item_graph = SparseOperator(self.item_item_graph(dataset, feature))
        if params.item_item_weight > 0:
            need_gb = dense_fit_bytes(self.n_items) / 1e9
            if need_gb > ITEM_ITEM_MAX_GB:
                raise ConfigError(f"params.item_item_weight > 0 needs a dense {self.n_items} x {self.n_items} "
                                  f"item-item fit ({need_gb:.1f} GB, over {ITEM_ITEM_MAX_GB:g} GB): set it to 0 "
                                  "for this catalogue")
            x = interaction_matrix(dataset.train, self.n_users, self.n_items)
            weights = ease_weights(gram_matrix(x), params.item_item_reg).float()
            indptr, indices = train_rows(dataset)
            self.register_buffer("item_item", weights, persistent=False)
            self.register_buffer("train_indptr", indptr, persistent=False)
            self.register_buffer("train_indices", indices, persistent=False)

    def item_item_graph(self, dataset: Dataset, feature: np.ndarray) -> sp.csr_matrix:
        """The frozen ``[n_items, n_items]`` graph the content side propagates over."""
        items_by_user = interaction_matrix(dataset.train, self.n_users, self.n_items).T
        return mix_with_cooccurrence(cosine_knn_graph(feature, self.params.knn_k), items_by_user,
                                     self.params.cooccurrence_k, self.params.cooccurrence_weight)

    def forward_all(self) -> AlignRecOutputs:
        ego = torch.cat([self.user_emb.weight, self.item_emb.weight])
        id_all = self.adj.layer_mean(ego, self.params.n_layers)
        user_id, item_id = id_all[: self.n_users], id_all[self.n_users:]
        content = self.project(self.norm(self.feature))
        h = self.item_emb.weight * torch.sigmoid(self.gate(content))
        for _ in range(self.params.n_item_layers):
            h = self.item_graph(h)
        user_content = self.user_item(h)
        return AlignRecOutputs(user_id + user_content, item_id + h, user_id, item_id, user_content, h)

    def target_sq_norm(self, items: torch.Tensor, counts: torch.Tensor) -> torch.Tensor | None:
        """``‖cos(F0[rows], F0[rows])‖_F²`` of the rows ``items`` (distinct), each repeated ``counts`` times, from the
        cached squared Gram matrix; None without one."""
        if not self.feature_gram_sq.numel():
            return None
        dense = torch.zeros(self.n_items, dtype=self.feature_gram_sq.dtype, device=items.device)
        dense[items] = counts.to(dense.dtype)
        return dense @ (self.feature_gram_sq @ dense)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.params.item_item_weight > 0:
            return None  # the scores are no dot products then (see score)
        out = self.forward_all()
        return out.users, out.items

    def score(self, users: torch.Tensor) -> torch.Tensor:
        if self.params.item_item_weight == 0:
            return super().score(users)
        if self._cache is None:
            out = self.forward_all()
            self._cache = out.users, out.items
        user_emb, item_emb = self._cache
        rows = sparse_rows(self.train_indptr, self.train_indices, users, self.n_items)
        return (standardised_rows(user_emb[users] @ item_emb.T)
                + self.params.item_item_weight * standardised_rows(scores_dense_weights(rows, self.item_item)))

    def content_input(self, dataset: Dataset) -> np.ndarray:
        return np.asarray(dataset.unified_feature(self.params.feature), dtype=np.float32)

    def hide_item_content(self, hidden: np.ndarray) -> None:
        with torch.no_grad():
            self.feature[torch.from_numpy(np.asarray(hidden, dtype=bool)).to(self.feature.device)] = 0.0

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        out = self.forward_all()
        u = out.users.index_select(0, users)
        i_pos, i_neg = out.items.index_select(0, torch.cat([pos, neg])).split(len(pos))
        pos_scores = (u * i_pos).sum(1)
        if p.rec_loss == "softmax":
            candidates, targets = torch.unique(torch.cat([pos, neg]), return_inverse=True)
            rec = in_batch_softmax_loss(u, out.items.index_select(0, candidates), targets[: len(pos)],
                                        p.softmax_temperature)
        else:
            rec = bpr_loss(pos_scores, (u * i_neg).sum(1))
        reg = p.reg_weight * l2_reg(u, i_pos, i_neg)
        cosine = pos_scores / (u.norm(dim=1) * i_pos.norm(dim=1)).clamp_min(COSINE_EPS)
        ui_cos = p.ui_cos_weight * (1 - cosine.mean())
        # Both item terms run over the batch's distinct positives, each standing for its c copies.
        items, counts = torch.unique(pos, return_counts=True)
        h = out.item_content.index_select(0, items)
        align = p.align_weight * (
            counted_info_nce(h, out.item_id.index_select(0, items), counts, p.temperature, p.contrastive_bf16)
            + info_nce_by_id(out.user_content, out.user_id, users, p.temperature, p.contrastive_bf16)
        )
        weights = counts.to(out.item_content.dtype)
        if p.sim_target == "trainable":  # the authors' code: the target follows the trained feature copy
            target_rows, target_norm = nn.functional.normalize(self.feature.index_select(0, items), dim=1), None
        else:
            target_rows = self.feature0.index_select(0, items)
            with torch.no_grad():
                target_norm = self.target_sq_norm(items, counts)
        sim = p.sim_weight * similarity_gap(h, target_rows, target_norm, weights) / len(pos)
        total = rec + reg + ui_cos + align + sim
        return {"loss": total, "bpr" if p.rec_loss == "bpr" else "softmax": rec, "reg": reg, "ui_cos": ui_cos,
                "align": align, "sim": sim}
