"""Cold-start item split: hold a seeded set of items out of training entirely.

The protocol follows the strict item cold-start setting of e.g. Wei, Wang, Li, Nie, Li, Li, Chua,
"Contrastive Learning for Cold-Start Recommendation" (CLCRec), ACM MM 2021: the chosen items have no
training interaction, half of them carry validation interactions and the other half test interactions,
so model selection and testing use disjoint cold items.
"""

from __future__ import annotations

import numpy as np

from alignrec.data.split import TEST, TRAIN, VALID


def choose_cold_items(items: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Seeded ``fraction`` (rounded) of the distinct items in ``items``, sorted."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"cold_item_fraction must be in [0, 1), got {fraction}")
    distinct = np.unique(items)
    n_cold = int(round(fraction * len(distinct)))
    return np.sort(np.random.default_rng([seed, 7]).permutation(distinct)[:n_cold])


def cold_item_split(items: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Relabel interactions so a ``fraction`` of items never appears in training.

    Returns ``(new labels, cold item indices)``: interactions of the first half of the (shuffled) cold
    items become validation, those of the second half test; every other interaction keeps its label.
    """
    cold = choose_cold_items(items, fraction, seed)
    if not len(cold):
        return labels, cold
    shuffled = np.random.default_rng([seed, 8]).permutation(cold)
    valid_items = shuffled[: len(cold) // 2]
    out = np.array(labels, copy=True)
    is_cold = np.isin(items, cold)
    out[is_cold] = np.where(np.isin(items[is_cold], valid_items), VALID, TEST)
    return out.astype(labels.dtype), cold


__all__ = ["TRAIN", "choose_cold_items", "cold_item_split"]
