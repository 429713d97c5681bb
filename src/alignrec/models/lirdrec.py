"""LIRDRec: item representations learned directly from the multimodal features, no item ID embeddings.

"Learning Item Representations Directly from Multimodal Features for Effective Recommendation" (Zhou et al.,
2025, arXiv 2505.04960). Implemented from the paper, with details the paper leaves open taken from reading the
authors' public code (enoche/LIRDRec):

* channels: one per modality, ``h_m = W2 LeakyReLU(W1 x_m + b1)`` (``d_m -> 4d -> d``, no bias on the second
  layer), plus a shared channel, the same encoder over the concatenated orthonormal DCT-II of every modality's
  feature (each item's vector transformed along its feature axis, as the authors' code does); each channel has
  its own user ID embedding and no item has an ID embedding;
* user-item graph: every channel's user and item rows L2-normalised, the channels side by side, propagated
  LightGCN-style and summed over layers ``0..n_ui_layers`` (a sum, as the authors do, not a mean);
* item-item graph: FREEDOM's frozen modality kNN graph (:func:`alignrec.models.graph.modality_knn_graph`), added
  to the item rows after ``n_mm_layers`` products;
* users: progressive weight copying. Each channel's user vector gets a score from a small head; the channel
  weights are ``softmax(w1 * scores + w2 * theta)`` with ``theta`` a trainable per-user table; at the start of
  each epoch ``w1`` shrinks towards 0 (its odds ``w1 / w2`` multiplied by ``decay_base ** epoch``) and ``theta``
  is overwritten by the weights of the last training batch, so the learned weights are progressively copied
  into ``theta``. The user vector is the weighted channels side by side; items keep all channels unweighted;
* loss: BPR + ``reg_weight`` x (mean square of all final user and item vectors).

Any number of modalities (``M + 1`` channels); ``feature`` names one matrix (e.g. ``unified``) to use instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.models.base import Recommender, register
from alignrec.models.content import concatenated_inputs, modality_inputs
from alignrec.models.graph import SparseOperator, modality_knn_graph, normalized_bipartite
from alignrec.models.losses import bpr_loss


@dataclass
class LIRDRecParams:
    """The authors' fixed settings (embedding 64, ``knn_k`` 10, one item-graph layer, ``decay_base`` 0.9) and the
    first value of their grid for the searched ones; they train with ``train.lr=0.0001`` and a constant learning
    rate (``train.lr_decay=1``)."""

    embedding_dim: int = 64
    n_ui_layers: int = 2
    n_mm_layers: int = 1
    knn_k: int = 10
    image_weight: float = 0.1
    reg_weight: float = 1e-2
    decay_weight: float = 0.9
    decay_base: float = 0.9
    feature: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.decay_weight < 1.0 or not 0.0 < self.decay_base <= 1.0:
            raise ConfigError(f"lirdrec: decay_weight must be in (0, 1) and decay_base in (0, 1], got "
                              f"{self.decay_weight} and {self.decay_base}")


def feature_encoder(in_dim: int, dim: int) -> nn.Sequential:
    """``in_dim -> 4 dim -> dim`` with a LeakyReLU between and no bias on the output layer."""
    return nn.Sequential(nn.Linear(in_dim, 4 * dim), nn.LeakyReLU(), nn.Linear(4 * dim, dim, bias=False))


def copy_schedule(epoch: int, decay_weight: float, decay_base: float) -> float:
    """``w1`` at 0-based ``epoch``: the authors update ``w1 <- w1 b^e / (w1 b^e + w2)``, ``w2 = 1 - w1``, at the start
    of epochs ``e = 1, 2, ...``, so the odds ``w1 / w2`` have been multiplied by ``b^(1 + 2 + ... + epoch)``."""
    odds = decay_weight / (1.0 - decay_weight) * decay_base ** (epoch * (epoch + 1) / 2)
    return odds / (1.0 + odds)


@register
class LIRDRec(Recommender):
    """Items from their multimodal features alone, users fused by progressive weight copying (LIRDRec, 2025)."""

    name = "lirdrec"
    Params = LIRDRecParams
    scores_unseen_items = True  # an item's vector comes from its features
    search_space = {"params.n_ui_layers": [2, 3, 4], "params.image_weight": [0.1, 0.2],
                    "params.reg_weight": [1e-2, 1e-3, 1e-4], "params.decay_weight": [0.9, 0.95, 0.99],
                    "train.lr": [1e-4]}

    def __init__(self, dataset: Dataset, params: LIRDRecParams) -> None:
        super().__init__(dataset, params)
        d = params.embedding_dim
        features = modality_inputs(dataset, params.feature)
        inputs = [np.asarray(features[m], dtype=np.float32) for m in sorted(features)]
        inputs.append(np.concatenate([scipy.fft.dct(x, type=2, norm="ortho", axis=1) for x in inputs], 1)
                      .astype(np.float32))
        self.n_channels = len(inputs)
        for c, x in enumerate(inputs):  # fixed inputs: not in checkpoints, so a masked rebuild keeps its mask
            self.register_buffer(f"input_{c}", torch.from_numpy(x), persistent=False)
        self.encoders = nn.ModuleList([feature_encoder(x.shape[1], d) for x in inputs])
        self.user_emb = nn.ParameterList([nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, d)))
                                          for _ in inputs])
        self.heads = nn.ModuleList([nn.Sequential(nn.Linear(d, d // 4), nn.LeakyReLU(), nn.Linear(d // 4, 1))
                                    for _ in inputs])
        self.theta = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_users, self.n_channels)))
        self.register_buffer("w1", torch.tensor(params.decay_weight))
        self.register_buffer("last_weights", torch.zeros(self.n_users, self.n_channels))
        self.register_buffer("has_last_weights", torch.tensor(False))
        self.adj = SparseOperator(normalized_bipartite(dataset.train, self.n_users, self.n_items), symmetric=True)
        self.item_graph = SparseOperator(modality_knn_graph(features, params.knn_k, params.image_weight))

    def on_epoch_start(self, epoch: int, rng: np.random.Generator) -> None:
        self.w1.fill_(copy_schedule(epoch, self.params.decay_weight, self.params.decay_base))
        if bool(self.has_last_weights):
            with torch.no_grad():
                self.theta.copy_(self.last_weights)

    def forward_all(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Final users ``[n_users, (M+1) d]``, items ``[n_items, (M+1) d]`` and channel weights ``[n_users, M+1]``."""
        d = self.params.embedding_dim
        ego = torch.cat([nn.functional.normalize(torch.cat([self.user_emb[c], self.encoders[c](self.channel(c))]),
                                                 dim=1) for c in range(self.n_channels)], 1)
        total, h = ego, ego
        for _ in range(self.params.n_ui_layers):
            h = self.adj(h)
            total = total + h
        users, items = total[: self.n_users], total[self.n_users:]
        h = items
        for _ in range(self.params.n_mm_layers):
            h = self.item_graph(h)
        items = items + h
        parts = users.view(self.n_users, self.n_channels, d)
        scores = torch.cat([self.heads[c](parts[:, c]) for c in range(self.n_channels)], 1)
        weights = torch.softmax(self.w1 * scores + (1.0 - self.w1) * self.theta, dim=1)
        return (parts * weights.unsqueeze(2)).reshape(self.n_users, -1), items, weights

    def channel(self, c: int) -> torch.Tensor:
        return getattr(self, f"input_{c}")

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        users, items, _ = self.forward_all()
        return users, items

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        user_all, item_all, weights = self.forward_all()
        with torch.no_grad():
            self.last_weights.copy_(weights)
            self.has_last_weights.fill_(True)
        u = user_all[users]
        bpr = bpr_loss((u * item_all[pos]).sum(1), (u * item_all[neg]).sum(1))
        reg = self.params.reg_weight * (user_all.pow(2).mean() + item_all.pow(2).mean())
        return {"loss": bpr + reg, "bpr": bpr, "reg": reg}

    def content_input(self, dataset: Dataset) -> np.ndarray:
        return concatenated_inputs(dataset, self.params.feature)
