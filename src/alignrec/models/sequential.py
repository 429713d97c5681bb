"""The sequential track's side of the model interface, and pieces its models share as pure functions.

A :class:`SequentialRecommender` encodes a history (``int64 [B, L]``, right-aligned, :data:`PAD` on the left)
into one hidden state per position, ``[B, L, d]``; the state at a position scores the next item by a dot
product with the output item embeddings. It trains on next-item prediction at every position of each user's
last ``max_len + 1`` training items (its own :meth:`training_batches`), and is evaluated by
:func:`alignrec.evaluation.evaluate_next_item` (its :meth:`rank_split`). See ``docs/architecture.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from alignrec.data import Dataset
from alignrec.data.sequences import PAD, history_before, last_items, sample_negatives, training_windows, user_sequences
from alignrec.errors import ConfigError
from alignrec.evaluation import Ranking, evaluate_next_item
from alignrec.models.base import Recommender

LOSSES = ("ce", "bce")


@dataclass
class SequentialParams:
    """Parameters every sequential model has. ``max_len``: the history length read (the last ``max_len``
    items); ``exclude_history``: evaluation ranks the items of the user's whole history last (the general track
    excludes training items the same way; papers differ, so it is recorded with the metrics); ``loss``: ``ce``
    (softmax cross-entropy over all items) or ``bce`` (one sampled negative per position)."""

    max_len: int = 50
    exclude_history: bool = True
    loss: str = "ce"


def next_item_loss(hidden: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None,
                   item_weight: torch.Tensor, item_bias: torch.Tensor | None, kind: str) -> torch.Tensor:
    """Mean next-item loss of ``N`` positions: ``hidden [N, d]``, ``targets [N]``, ``item_weight [n_items, d]``,
    ``item_bias [n_items]`` or None. ``kind="ce"``: cross-entropy over all items; ``"bce"``: binary
    cross-entropy of the target against ``negatives [N]`` (one per position)."""
    if kind == "ce":
        logits = hidden @ item_weight.T
        if item_bias is not None:
            logits = logits + item_bias
        return F.cross_entropy(logits, targets)
    if negatives is None:
        raise ValueError("the bce loss needs negatives")

    def logit(items: torch.Tensor) -> torch.Tensor:
        out = (hidden * item_weight[items]).sum(-1)
        return out + item_bias[items] if item_bias is not None else out

    return (F.softplus(-logit(targets)) + F.softplus(logit(negatives))).mean()


def lru_recurrence(lam: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Step-by-step linear recurrence ``h_t = lam * h_{t-1} + b_t`` (``h_{-1} = 0``): ``lam [D]``, ``b [B, L, D]``
    (complex or real) -> ``h [B, L, D]``. The reference for :func:`lru_scan`."""
    out, h = [], torch.zeros_like(b[:, 0])
    for t in range(b.shape[1]):
        h = lam * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def lru_scan(lam: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same recurrence as :func:`lru_recurrence` by a parallel scan in ``ceil(log2 L)`` steps: after the step
    with shift ``s``, ``h_t = sum_{j < 2s} lam^j b_{t-j}`` (each step doubles the window; out of place, so
    autograd sees every step)."""
    h, power, shift = b, lam, 1
    while shift < b.shape[1]:
        h = torch.cat([h[:, :shift], h[:, shift:] + power * h[:, :-shift]], dim=1)
        power, shift = power * power, shift * 2
    return h


def padded_index(histories: torch.Tensor, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Embedding indices (``PAD`` -> ``n_items``, the padding row) and the ``bool`` mask of real entries."""
    real = histories != PAD
    return torch.where(real, histories, torch.full_like(histories, n_items)), real


class SequentialRecommender(Recommender):
    """A next-item model: subclasses implement :meth:`encode` and :meth:`output_items`; ``Params`` extends
    :class:`SequentialParams`."""

    task: ClassVar[str] = "sequential"
    Params: ClassVar[type] = SequentialParams

    def __init__(self, dataset: Dataset, params: Any) -> None:
        super().__init__(dataset, params)
        if params.max_len < 1:
            raise ConfigError(f"params.max_len must be >= 1, got {params.max_len}")
        if params.loss not in LOSSES:
            raise ConfigError(f"params.loss must be one of {LOSSES}, got {params.loss!r}")
        self._train_seqs = user_sequences(dataset.train, self.n_users)
        self._trainable_users = np.flatnonzero(self._train_seqs.lengths() >= 2)
        # What score(users) reads: the history before each user's test item (train, then valid): never the test.
        self._latest = history_before(dataset.train, dataset.valid, "test", self.n_users)

    def encode(self, histories: torch.Tensor) -> torch.Tensor:
        """Hidden states ``[B, L, d]`` of histories ``int64 [B, L]``; position ``t`` reads positions ``<= t`` only."""
        raise NotImplementedError

    def output_items(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Output item embeddings ``[n_items, d]`` and an item bias ``[n_items]`` (or None)."""
        raise NotImplementedError

    def score_histories(self, histories: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Next-item scores ``float [B, n_items]`` of histories ``int64 [B, L]`` (right-aligned, ``PAD`` on the
        left; ``lengths [B]`` their real lengths)."""
        weight, bias = self.output_items()
        scores = self.encode(histories)[:, -1] @ weight.T
        return scores + bias if bias is not None else scores

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Next-item scores after each user's training sequence and validation item (for recommendations and
        exports; evaluation uses :meth:`rank_split`)."""
        hist, lengths = last_items(self._latest, users.cpu().numpy(), self.params.max_len)
        device = users.device
        return self.score_histories(torch.from_numpy(hist).to(device), torch.from_numpy(lengths).to(device))

    def training_batches(self, rng: np.random.Generator, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
        """Batches of ``batch_size`` users in a random order: ``(inputs, targets, negatives)``, ``int64 [B, L]``
        each (``negatives`` is ``[B, 0]`` for the ``ce`` loss)."""
        device = next(self.parameters()).device
        users = rng.permutation(self._trainable_users)
        batches = []
        for start in range(0, len(users), batch_size):
            chunk = users[start:start + batch_size]
            inputs, targets = training_windows(self._train_seqs, chunk, self.params.max_len)
            negatives = (sample_negatives(self._train_seqs, chunk, inputs.shape, self.n_items, rng)
                         if self.params.loss == "bce" else np.zeros((len(chunk), 0), dtype=np.int64))
            batches.append(tuple(torch.from_numpy(a).to(device) for a in (inputs, targets, negatives)))
        return batches

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor) -> dict[str, torch.Tensor]:
        """Next-item loss at every position of ``inputs`` that has a target (see :meth:`training_batches`)."""
        hidden = self.encode(inputs)
        mask = targets != PAD
        weight, bias = self.output_items()
        negs = negatives[mask] if negatives.shape[1] else None
        value = next_item_loss(hidden[mask], targets[mask], negs, weight, bias, self.params.loss)
        return {"loss": value, self.params.loss: value}

    def rank_split(self, dataset: Dataset, part: str, ks: list[int], batch_size: int = 2048,
                   device: torch.device | str = "cpu") -> Ranking:
        return evaluate_next_item(self.score_histories, dataset, part, ks, self.params.max_len,
                                  self.params.exclude_history, batch_size, device)

    def protocol(self) -> dict[str, Any]:
        return {"track": self.task, "split": "leave_one_out", "max_len": self.params.max_len,
                "exclude_history": self.params.exclude_history}
