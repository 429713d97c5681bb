"""ItemKNN-CF: item-based nearest neighbours over the interaction matrix, with a shrunk cosine.

As the ItemKNNCF baseline of Dacrema, Cremonesi and Jannach, "Are We Really Making Much Progress? A Worrying
Analysis of Recent Neural Recommendation Approaches", RecSys 2019 (implemented from the paper and a reading of the
authors' public code, MaurizioFD/RecSys2019_DeepLearning_Evaluation): items are the columns of the binary
training matrix ``X``; ``s_ij = x_i·x_j / (‖x_i‖ ‖x_j‖ + shrink)`` (their "cosine" with ``normalize=True`` and no
feature weighting); for every target item ``j`` only its ``k`` most similar other items ``i`` keep a weight
``W_ij = s_ij`` (the item itself never), and a user's scores are ``X[user] @ W``, i.e. the sum of ``s_ij`` over the
user's training items among ``j``'s neighbours.

Sparse: the similarities are computed in row blocks of bounded memory and only ``n_items x k`` are kept, so it
scales to catalogues EASE cannot hold. Items without training interactions have no neighbours and score 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.models.base import Recommender, register
from alignrec.models.graph import interaction_matrix, to_torch_csr
from alignrec.models.linear import (
    neighbour_count,
    neighbour_matrix,
    scores_sparse_weights,
    shrunk_cosine_top_k,
    sparse_rows,
    train_rows,
)


@dataclass
class ItemKNNParams:
    """Defaults are the authors' (``ItemKNNCFRecommender.fit``: topK 50, shrink 100); they search topK in
    [5, 1000] and shrink in [0, 1000]; :attr:`ItemKNN.search_space` is a small grid over those ranges. ``k`` larger
    than the catalogue keeps every other item."""

    k: int = 50
    shrink: float = 100.0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"params.k must be at least 1, got {self.k}")
        if not self.shrink >= 0:
            raise ConfigError(f"params.shrink must be non-negative, got {self.shrink}")


@register
class ItemKNN(Recommender):
    """ItemKNN-CF: shrunk cosine, top k (Dacrema et al., "Are We Really Making Much Progress?", RecSys 2019).

    Sparse: ``n_items x k`` weights; scores ``X[users] @ W``."""

    name = "itemknn"
    Params = ItemKNNParams
    trainable = False
    search_space = {"params.k": [10, 50, 100, 200, 500], "params.shrink": [0.0, 10.0, 100.0, 1000.0]}
    # Whether an item may be its own neighbour (it never is in ItemKNN-CF).
    include_self: ClassVar[bool] = False

    def __init__(self, dataset: Dataset, params: ItemKNNParams) -> None:
        super().__init__(dataset, params)
        indptr, indices = train_rows(dataset)
        self.register_buffer("train_indptr", indptr, persistent=False)
        self.register_buffer("train_indices", indices, persistent=False)
        k = neighbour_count(self.n_items, params.k, exclude_self=not self.include_self)
        # The fitted state, [n_items, k]: row r holds item r's neighbours and their similarities.
        self.register_buffer("neighbours", torch.zeros(self.n_items, k, dtype=torch.int64))
        self.register_buffer("similarities", torch.zeros(self.n_items, k))
        self.register_buffer("weights_t", self._weights_t(), persistent=False)
        self.register_load_state_dict_post_hook(lambda module, _keys: module.rebuild())

    def item_vectors(self, dataset: Dataset) -> sp.spmatrix | np.ndarray:
        """``[n_items, d]``: the vectors whose similarities pick the neighbours (here ``Xᵀ``, items by users)."""
        return sp.csr_matrix(interaction_matrix(dataset.train, self.n_users, self.n_items).T)

    def scoring_matrix(self, neighbours: sp.csr_matrix) -> sp.csr_matrix:
        """``W`` ``[n_items, n_items]`` from the neighbour matrix ``N`` (row ``r``: item ``r``'s neighbours).
        ItemKNN-CF's neighbours are those of the target item ``j``: ``W_ij = N_ji``, ``W = Nᵀ``."""
        return sp.csr_matrix(neighbours.T)

    def _weights_t(self) -> torch.Tensor:
        values, indices = self.similarities.cpu().numpy(), self.neighbours.cpu().numpy()
        matrix = self.scoring_matrix(neighbour_matrix(values, indices, self.n_items))
        return to_torch_csr(matrix.T).to(self.similarities.device)

    def rebuild(self) -> None:
        """Rebuild the sparse ``Wᵀ`` the scores use from the fitted neighbours (after :meth:`fit` or loading)."""
        self.weights_t = self._weights_t()

    def fit(self, dataset: Dataset) -> None:
        self.fit_vectors(self.item_vectors(dataset))

    def fit_vectors(self, vectors: sp.spmatrix | np.ndarray) -> None:
        """Keep each item's ``k`` most similar items by the shrunk cosine of ``vectors`` ``[n_items, d]``."""
        values, indices = shrunk_cosine_top_k(vectors, self.params.k, self.params.shrink,
                                              exclude_self=not self.include_self)
        self.similarities.copy_(torch.from_numpy(values))
        self.neighbours.copy_(torch.from_numpy(indices))
        self.rebuild()

    def score(self, users: torch.Tensor) -> torch.Tensor:
        rows = sparse_rows(self.train_indptr, self.train_indices, users, self.n_items)
        return scores_sparse_weights(rows, self.weights_t)
