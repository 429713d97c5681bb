"""Which content matrices a model reads from a dataset, and its trainable copies of them."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from alignrec.data import Dataset, is_stage1_feature
from alignrec.errors import DataError


def modality_inputs(dataset: Dataset, feature: str | None) -> dict[str, np.ndarray]:
    """``{name: [n_items, d]}``: the one matrix ``feature`` names (e.g. ``unified``), or every modality except the
    stage-1 features (``unified``, ``unified_cf``, ...; for models that treat each modality on its own)."""
    if feature is not None:
        return {feature: dataset.unified_feature(feature)}
    mods = {name: m for name, m in dataset.features.items() if not is_stage1_feature(name)}
    if not mods:
        raise DataError(f"dataset {dataset.name!r} has no modality features; give *_feat.npy files, encode content "
                        "(alignrec encode), or set params.feature")
    return mods


def trainable_copies(features: dict[str, np.ndarray]) -> nn.ParameterList:
    """Trainable copies of the content matrices, in sorted name order (the authors' ``from_pretrained(...,
    freeze=False)`` features)."""
    return nn.ParameterList([nn.Parameter(torch.from_numpy(np.asarray(features[m], dtype=np.float32).copy()))
                             for m in sorted(features)])


def concatenated_inputs(dataset: Dataset, feature: str | None) -> np.ndarray:
    """:func:`modality_inputs` side by side (sorted names): the layout :func:`hide_in_copies` expects."""
    return np.concatenate([np.asarray(m, dtype=np.float32) for _, m in sorted(modality_inputs(dataset,
                                                                                               feature).items())], 1)


def hide_in_copies(copies: nn.ParameterList, hidden: np.ndarray) -> None:
    """Zero the entries ``hidden`` (laid out as :func:`concatenated_inputs`) in the trainable copies."""
    with torch.no_grad():
        start = 0
        for copy in copies:
            width = copy.shape[1]
            copy[torch.from_numpy(np.asarray(hidden[:, start:start + width], dtype=bool)).to(copy.device)] = 0.0
            start += width
