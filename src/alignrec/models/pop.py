"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

import numpy as np
import torch

from alignrec.data import Dataset
from alignrec.models.base import NoParams, Recommender, register


@register
class Pop(Recommender):
    """Scores each item by its number of training interactions (no personalisation)."""

    name = "pop"
    Params = NoParams
    trainable = False

    def __init__(self, dataset: Dataset, params: NoParams) -> None:
        super().__init__(dataset, params)
        self.register_buffer("popularity", torch.zeros(self.n_items))

    def fit(self, dataset: Dataset) -> None:
        counts = np.bincount(dataset.train[:, 1], minlength=self.n_items).astype(np.float32)
        self.popularity.copy_(torch.from_numpy(counts))

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.popularity.expand(len(users), -1).clone()
