"""EASE: a closed-form item-item linear model.

Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019 (arXiv 1905.03375). With ``X`` the binary
``[n_users, n_items]`` training matrix, ``P = (XᵀX + λI)^-1`` and ``B = I - P diagMat(1 / diag(P))`` (so
``diag(B) = 0``); a user's scores are ``X[user] @ B``. No training loop: :meth:`EASE.fit` solves once.

Memory: the fit solves a dense ``n_items x n_items`` float64 Gram matrix in place (Cholesky, then its inverse) and
copies the result into the model's float32 ``B``: ``12 n_items²`` bytes on the CPU (measured: 6,000 items added
570 MB), plus one float64 copy on a GPU, where torch's Cholesky inverse works on a copy. The check is for the
larger, ``20 n_items²`` bytes: 10k items 2 GB, 28k items 16 GB (the default ``params.max_memory_gb``), 100k items
200 GB. Larger catalogues than ``params.max_memory_gb`` allows are refused when the model is built (use
``itemknn``, which is sparse). Scores are computed per batch of users (``X[users] @ B`` with ``X[users]`` sparse,
``[batch, n_items]``); no ``n_users x n_items`` matrix is kept. A run directory's ``best.pt`` holds ``B``
(``4 n_items²`` bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.models.base import Recommender, register
from alignrec.models.graph import interaction_matrix
from alignrec.models.linear import (
    check_dense_fits,
    ease_weights,
    gram_matrix,
    scores_dense_weights,
    sparse_rows,
    train_rows,
)

# The Gram matrix and its inverse are float64. float32 gave the same test recall@20 and ndcg@20 to 5 decimals on
# movielens-100k (ratings >= 4, random split) and amazon-scientific, at reg_weight 200 and 1, in about half the
# time, but float64 keeps a small reg_weight on a large, skewed catalogue well conditioned; memory is checked for
# float64.
FIT_DTYPE = torch.float64


@dataclass
class EASEParams:
    """``reg_weight`` is λ (RecBole's name; 250 is RecBole's default, Steck tunes it per dataset; the grid spans
    1 to 3200). ``max_memory_gb`` bounds the dense fit (see the module docstring); it changes no result."""

    reg_weight: float = 250.0
    max_memory_gb: float = 16.0

    def __post_init__(self) -> None:
        if not self.reg_weight > 0:
            raise ConfigError(f"params.reg_weight must be positive, got {self.reg_weight}")
        if not self.max_memory_gb > 0:
            raise ConfigError(f"params.max_memory_gb must be positive, got {self.max_memory_gb}")


@register
class EASE(Recommender):
    """EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019); dense: ~20 n_items² bytes.

    Closed-form item-item weights ``B`` ``[n_items, n_items]`` (float32); scores ``X[users] @ B``."""

    name = "ease"
    Params = EASEParams
    trainable = False
    search_space = {"params.reg_weight": [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0]}

    def __init__(self, dataset: Dataset, params: EASEParams) -> None:
        super().__init__(dataset, params)
        check_dense_fits(self.name, self.n_items, params.max_memory_gb, torch.finfo(FIT_DTYPE).bits // 8)
        indptr, indices = train_rows(dataset)
        self.register_buffer("train_indptr", indptr, persistent=False)
        self.register_buffer("train_indices", indices, persistent=False)
        self.register_buffer("weights", torch.zeros(self.n_items, self.n_items))

    def gram(self, x: sp.csr_matrix) -> torch.Tensor:
        """The ``[n_items, n_items]`` Gram matrix the closed form regularises: ``XᵀX``."""
        return gram_matrix(x, FIT_DTYPE, self.weights.device)

    def solve(self, train: np.ndarray) -> None:
        """Set ``B`` from the training pairs ``train`` ``int64 [n, 2]``."""
        x = interaction_matrix(train, self.n_users, self.n_items)
        self.weights.copy_(ease_weights(self.gram(x), self.params.reg_weight))

    def fit(self, dataset: Dataset) -> None:
        self.solve(dataset.train)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        rows = sparse_rows(self.train_indptr, self.train_indices, users, self.n_items)
        return scores_dense_weights(rows, self.weights)
