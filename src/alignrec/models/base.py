"""The one interface every model implements, and the registry that names them.

A model is a class with a registry ``name``, a ``Params`` dataclass (its typed parameters, with defaults) and
the methods below. Everything the trainer, the evaluators and the pipeline need from a model is asked through
this interface; nothing looks for attributes by name. To add a model, see ``docs/architecture.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from alignrec.config import build_dataclass
from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.evaluation import Ranking, evaluate_split

TASKS = ("general", "sequential")
REGISTRY: dict[str, type[Recommender]] = {}


@dataclass
class NoParams:
    """Parameters of a model that has none."""


class Recommender(nn.Module):
    """A recommender built from a :class:`Dataset` and its typed ``Params``.

    Must implement: :meth:`loss` (trainable models) and :meth:`embeddings` or :meth:`score`.
    May override (each has a default): :meth:`fit`, :meth:`on_epoch_start`, :meth:`training_batches`,
    :meth:`parameter_groups`,
    :meth:`pair_scores`, :meth:`content_input`, :meth:`hide_item_content`, :meth:`rank_split`,
    :meth:`protocol`, and the class attributes ``task``, ``trainable``, ``scores_unseen_items`` and
    ``search_space``.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    trainable: ClassVar[bool] = True
    # The track: "general" ranks from the set of a user's training interactions; "sequential" models
    # (models/sequential.py) score the next item from an ordered history and need the split 'leave_one_out'.
    task: ClassVar[str] = "general"
    # True when items without training interactions are ranked from their content (cold-start capable).
    scores_unseen_items: ClassVar[bool] = False
    # Hyper-parameter grid for ``alignrec tune``: config-tree path (``params.x``, ``train.lr``) -> values; the
    # paper's or the authors' grid where they publish one.
    search_space: ClassVar[dict[str, list[Any]]] = {}

    def __init__(self, dataset: Dataset, params: Any) -> None:
        super().__init__()
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} needs {self.Params.__name__}, got {type(params).__name__}")
        self.n_users, self.n_items = dataset.n_users, dataset.n_items
        self.params = params
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def fit(self, dataset: Dataset) -> None:
        """Closed-form fitting for non-trainable models (``trainable = False``); trainable ones use the trainer."""

    def on_epoch_start(self, epoch: int, rng: np.random.Generator) -> None:
        """Called before each training epoch (e.g. to re-sample a pruned graph); ``rng`` is seeded per epoch."""

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups (torch's format); a group may set its own ``lr`` or ``weight_decay``."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def training_batches(self, rng: np.random.Generator, batch_size: int) -> list[tuple[torch.Tensor, ...]] | None:
        """The epoch's batches for :meth:`loss`, or None (the default) for the trainer's BPR triples
        ``(users, positives, negatives)``: a model trained otherwise (e.g. on whole user rows) builds its own."""
        return None

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms for a batch of ``B`` (user, positive item, negative item) index triples, each ``int64 [B]``
        (or for one batch of :meth:`training_batches`, when the model builds its own).

        Returns a dict whose ``"loss"`` entry is the scalar to minimise; the other entries are its terms, logged.
        """
        raise NotImplementedError(f"{self.name} is not trainable by gradient")

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Final ``[n_users, d]`` and ``[n_items, d]`` embeddings whose dot products are the scores, or None for a
        model that scores otherwise (then it overrides :meth:`score`)."""
        return None

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Scores ``float [len(users), n_items]``; higher is better. Call inside ``torch.no_grad()``."""
        if self._cache is None:
            emb = self.embeddings()
            if emb is None:
                raise NotImplementedError(f"{self.name} implements neither embeddings() nor score()")
            self._cache = emb
        user_emb, item_emb = self._cache
        return user_emb[users] @ item_emb.T

    def content_input(self, dataset: Dataset) -> np.ndarray | None:
        """The ``[n_items, d]`` item content matrix this model reads from ``dataset``; None if it reads none."""
        return None

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores ``[B]`` of the pairs ``(users[b], items[b])``, differentiable (used by unlearning objectives)."""
        emb = self.embeddings()
        if emb is None:
            return self.score(users).gather(1, items.view(-1, 1)).view(-1)
        user_emb, item_emb = emb
        return (user_emb[users] * item_emb[items]).sum(1)

    def hide_item_content(self, hidden: np.ndarray) -> None:
        """Zero the entries ``hidden`` (``bool``, the shape of :meth:`content_input`) in the model's own trained
        copies of its content input. Mask-modality evaluation rebuilds a trained model on masked features and
        then calls this, so that trained copies do not keep what the masked input lost."""

    def rank_split(self, dataset: Dataset, part: str, ks: list[int], batch_size: int = 2048,
                   device: torch.device | str = "cpu") -> Ranking:
        """Full-ranking evaluation on ``part`` (``"valid"`` / ``"test"``): what the trainer's early stopping and a
        run's final metrics call. The general track's is :func:`alignrec.evaluation.evaluate_split` of
        :meth:`score`; the sequential track overrides it to rank each target from the history before it."""
        return evaluate_split(self.score, dataset, part, ks, batch_size, device)

    def protocol(self) -> dict[str, Any]:
        """How :meth:`rank_split` evaluates, for the record (``metrics.json``): the track and its options."""
        return {"track": self.task}

    def train(self, mode: bool = True) -> Recommender:
        self._cache = None
        return super().train(mode)


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator: make a model available by its ``name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if not dataclasses.is_dataclass(cls.Params):
        raise TypeError(f"{cls.__name__}.Params must be a dataclass")
    if cls.task not in TASKS:
        raise TypeError(f"{cls.__name__}.task must be one of {TASKS}, got {cls.task!r}")
    REGISTRY[cls.name] = cls
    return cls


def model_class(name: str) -> type[Recommender]:
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {sorted(REGISTRY)}")
    return REGISTRY[name]


def resolve_params(name: str, raw: Any = None) -> Any:
    """Model ``name``'s typed ``Params`` from a dict of overrides (strings from the command line are parsed), or
    the instance itself when it already is one. Unknown or ill-typed fields are named in the error."""
    params_cls = model_class(name).Params
    if raw is None:
        return params_cls()
    if dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        if not isinstance(raw, params_cls):
            raise ConfigError(f"params of {name!r} must be {params_cls.__name__}, got {type(raw).__name__}")
        return raw
    return build_dataclass(params_cls, raw, f"params ({name})")


def build_model(name: str, dataset: Dataset, params: Any = None) -> Recommender:
    """An untrained model ``name`` on ``dataset``; ``params`` is its ``Params``, a dict of overrides, or None."""
    return model_class(name)(dataset, resolve_params(name, params))


def available_models() -> list[str]:
    return sorted(REGISTRY)
