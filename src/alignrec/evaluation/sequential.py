"""Next-item evaluation of the sequential track: each user's target ranked among all items from their history.

Validation ranks each user's valid item from their training sequence; test ranks the test item from the
training sequence followed by the valid item. ``exclude_history`` ranks the items of the user's whole history
(not only the truncated window the model reads) last, as the general track does with training items.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data import Dataset
from alignrec.data.sequences import Sequences, history_before, last_items
from alignrec.evaluation.evaluator import Ranking, rank_and_evaluate, without_items

# (histories int64 [B, L] right-aligned, PAD-padded; lengths int64 [B]) -> scores float [B, n_items]
HistoryScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def history_matrix(seqs: Sequences, n_items: int) -> sp.csr_matrix:
    """Binary ``[n_users, n_items]`` CSR matrix of the items in each user's sequence."""
    data = np.ones(len(seqs.items), dtype=np.float32)
    matrix = sp.csr_matrix((data, seqs.items, seqs.indptr), shape=(seqs.n_users, n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def rank_next_items(score_histories: HistoryScoreFn, history: Sequences, targets: np.ndarray, n_items: int,
                    ks: list[int], max_len: int, exclude_history: bool = True, batch_size: int = 2048,
                    device: torch.device | str = "cpu", never_rank: np.ndarray | None = None) -> Ranking:
    """Rank the ``targets`` (``(user, item)`` pairs ``int64 [n, 2]``) of every user who has one, from the last
    ``max_len`` items of ``history``; ``never_rank`` items (removed ones) are never ranked."""
    hist, lengths = last_items(history, np.arange(history.n_users), max_len)
    hist_t, len_t = torch.from_numpy(hist).to(device), torch.from_numpy(lengths).to(device)

    def score(users: torch.Tensor) -> torch.Tensor:
        return score_histories(hist_t[users], len_t[users])

    truth = sp.csr_matrix((np.ones(len(targets), dtype=np.float32), (targets[:, 0], targets[:, 1])),
                          shape=(history.n_users, n_items))
    exclude = history_matrix(history, n_items) if exclude_history else sp.csr_matrix((history.n_users, n_items))
    ranked = without_items(score, never_rank if never_rank is not None else np.zeros(0, dtype=np.int64))
    with torch.no_grad():
        return rank_and_evaluate(ranked, truth, exclude, ks, batch_size, device)


def evaluate_next_item(score_histories: HistoryScoreFn, dataset: Dataset, part: str, ks: list[int], max_len: int,
                       exclude_history: bool = True, batch_size: int = 2048,
                       device: torch.device | str = "cpu") -> Ranking:
    """Next-item evaluation on ``part`` (``"valid"`` / ``"test"``) of a ``leave_one_out`` dataset (see the
    module docstring); the test split is read only for ``part="test"``."""
    history = history_before(dataset.train, dataset.valid, part, dataset.n_users)
    return rank_next_items(score_histories, history, getattr(dataset, part), dataset.n_items, ks, max_len,
                           exclude_history, batch_size, device, dataset.removed_items)
