"""Recommend top-k items for users of a loaded run (training items excluded)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from alignrec.evaluation import top_k_items
from alignrec.evaluation.evaluator import without_items
from alignrec.runs import LoadedRun


def recommend(run: LoadedRun, users: list[str], k: int = 10) -> list[dict[str, Any]]:
    """Top ``k`` items for each raw user ID: ``[{"user", "rank", "item", "score", "text"}, ...]``."""
    dataset, model = run.dataset, run.model
    index = np.array([dataset.user_index(u) for u in users], dtype=np.int64)
    with torch.no_grad():
        all_scores = without_items(model.score, dataset.removed_items)(torch.from_numpy(index)).float()
    # Score each user once: rank by row position into the precomputed scores (indexing copies them,
    # so top_k_items' masking of training items does not touch all_scores).
    positions = np.arange(len(index))
    top = top_k_items(lambda pos: all_scores[pos], positions, dataset.matrix("train")[index], k)
    scores = all_scores.gather(1, torch.from_numpy(top)).numpy()
    rows = []
    for u, items, item_scores in zip(users, top, scores):
        for rank, (item, score) in enumerate(zip(items, item_scores), start=1):
            text = dataset.item_text[item] if dataset.item_text is not None else ""
            rows.append({"user": str(u), "rank": rank, "item": str(dataset.item_ids[item]),
                         "score": float(score), "text": text})
    return rows
