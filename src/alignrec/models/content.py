"""Which content matrices a model reads from a dataset."""

from __future__ import annotations

import numpy as np

from alignrec.data import Dataset
from alignrec.errors import DataError


def modality_inputs(dataset: Dataset, feature: str | None) -> dict[str, np.ndarray]:
    """``{name: [n_items, d]}``: the one matrix ``feature`` names (e.g. ``unified``), or every modality except a
    stage-1 ``unified`` feature (for models that treat each modality on its own)."""
    if feature is not None:
        return {feature: dataset.unified_feature(feature)}
    mods = {name: m for name, m in dataset.features.items() if name != "unified"}
    if not mods:
        raise DataError(f"dataset {dataset.name!r} has no modality features; give *_feat.npy files, encode content "
                        "(alignrec encode), or set params.feature")
    return mods
