"""CEASE: EASE with item content as extra rows of the interaction matrix (collective EASE).

Jeunen, Van Balen and Goethals, "Closed-Form Models for Collaborative Filtering with Side-Information", RecSys
2020 (late-breaking results). EASE is solved on ``X`` stacked with the item-feature matrix weighted by ``α``,
``[X; α Fᵀ]``, whose Gram matrix is ``XᵀX + α² F Fᵀ``; so ``P = (XᵀX + w F Fᵀ + λI)^-1``, ``B = I - P diagMat(1 /
diag(P))`` and scores ``X[user] @ B``. Here ``w = params.content_weight`` is the weight on ``F Fᵀ`` (the paper's
``α²``), and ``F`` ``[n_items, d]`` is the L2-normalised modalities side by side (or the one matrix
``params.feature`` names, L2-normalised). An item without training interactions still gets weights from its
content, so it is ranked (cold start).

Memory as EASE (``20 n_items²`` bytes to fit; see :mod:`alignrec.models.ease`) plus ``F``.

Mask-modality evaluation: ``B`` is fitted from the content, so a model rebuilt on masked features refits ``B``
from them (:meth:`CEASE.hide_item_content`), as FREEDOM rebuilds its content graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.models.base import register
from alignrec.models.ease import EASE, EASEParams
from alignrec.models.linear import normalised_content


@dataclass
class CEASEParams(EASEParams):
    """``content_weight`` (``w`` on ``F Fᵀ``) 8 and ``reg_weight`` 200: the best validation recall@20 of the grid
    :attr:`CEASE.search_space` on amazon-scientific with its CLIP image + text features (valid 0.2457, test 0.1784);
    the paper tunes both per dataset."""

    reg_weight: float = 200.0
    content_weight: float = 8.0
    feature: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.content_weight >= 0:
            raise ConfigError(f"params.content_weight must be non-negative, got {self.content_weight}")


@register
class CEASE(EASE):
    """CEASE (Jeunen et al., "Closed-Form Models for Collaborative Filtering with Side-Information", RecSys 2020).

    EASE on interactions stacked with item content; dense like EASE (~20 n_items² bytes to fit)."""

    name = "cease"
    Params = CEASEParams
    scores_unseen_items = True
    search_space = {"params.reg_weight": [100.0, 200.0, 400.0, 800.0],
                    "params.content_weight": [2.0, 4.0, 8.0, 16.0, 32.0]}

    def __init__(self, dataset: Dataset, params: CEASEParams) -> None:
        super().__init__(dataset, params)
        self.content = normalised_content(dataset, params.feature)
        self.train_pairs = dataset.train

    def gram(self, x: sp.csr_matrix) -> torch.Tensor:
        gram = super().gram(x)
        f = torch.from_numpy(self.content).to(device=gram.device, dtype=gram.dtype)
        return gram.addmm_(f, f.T, alpha=self.params.content_weight)

    def content_input(self, dataset: Dataset) -> np.ndarray:
        return normalised_content(dataset, self.params.feature)

    def hide_item_content(self, hidden: np.ndarray) -> None:
        if np.asarray(hidden).any():  # the model was built on the masked content: refit B from it
            self.solve(self.train_pairs)
