"""The one interface every model implements, and the registry that names them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from alignrec.data import Dataset

REGISTRY: dict[str, type[Recommender]] = {}


@dataclass
class NoParams:
    """Parameters of a model that has none."""


class Recommender(nn.Module):
    """A recommender: built from a :class:`Dataset` and typed params, then trained with BPR triples.

    Subclasses set ``name`` and ``Params`` (a dataclass), and implement :meth:`loss` (for trainable
    models) and :meth:`score`. Models that learn nothing by gradient set ``trainable = False`` and do
    their work in :meth:`fit`.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    trainable: ClassVar[bool] = True

    def __init__(self, dataset: Dataset, params: Any) -> None:
        super().__init__()
        self.n_users, self.n_items = dataset.n_users, dataset.n_items
        self.params = params
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def fit(self, dataset: Dataset) -> None:
        """Closed-form fitting for non-trainable models; trainable ones use the trainer."""

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms for a batch of ``B`` (user, positive item, negative item) index triples.

        Returns a dict whose ``"loss"`` entry is the scalar to minimise; other entries are for logging.
        """
        raise NotImplementedError

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final ``[n_users, d]`` and ``[n_items, d]`` embeddings whose dot products are the scores."""
        raise NotImplementedError

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Scores ``float [len(users), n_items]``; higher is better. Call inside ``torch.no_grad()``."""
        if self._cache is None:
            self._cache = self.embeddings()
        user_emb, item_emb = self._cache
        return user_emb[users] @ item_emb.T

    def train(self, mode: bool = True) -> Recommender:
        self._cache = None
        return super().train(mode)


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator: make a model available by its ``name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    REGISTRY[cls.name] = cls
    return cls
