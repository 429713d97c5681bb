"""LRURec (Yue et al., "Linear Recurrent Units for Sequential Recommendation", WSDM 2024).

Item embeddings (dropout, layer norm) go through blocks of a linear recurrent unit and a point-wise
feed-forward network. The LRU keeps a complex diagonal state of ``2 d`` units, ``h_t = lam * h_{t-1} +
gamma * (B x_t)`` with ``lam = exp(-exp(nu) + i exp(theta))`` (magnitudes initialised uniformly on the ring
``[0.8, 0.99]``, phases on ``[0, 2 pi]``) and ``gamma = sqrt(1 - |lam|^2)``, read out as ``Re(C h_t)``; the
recurrence is computed by a parallel scan over the history (:func:`alignrec.models.sequential.lru_scan`).
Each sub-layer is ``LayerNorm(x + Dropout(f(x)))``; the output at a position scores the next item against the
shared item embeddings plus an item bias, trained with cross-entropy over all items. Defaults: 2 blocks,
``d = 64``, dropout 0.1, ``max_len`` 50 (the paper: 200 on MovieLens-1M, 50 on the Amazon sets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from alignrec.data import Dataset
from alignrec.models.base import register
from alignrec.models.sequential import SequentialParams, SequentialRecommender, lru_scan, padded_index


@dataclass
class LRURecParams(SequentialParams):
    hidden: int = 64
    blocks: int = 2
    dropout: float = 0.1
    r_min: float = 0.8
    r_max: float = 0.99


class LRULayer(nn.Module):
    """``[B, L, d] -> [B, L, d]``: the recurrence over time with a residual and layer norm; ``real [B, L]`` marks
    real (not padding) positions, whose inputs alone enter the state."""

    def __init__(self, d: int, dropout: float, r_min: float, r_max: float) -> None:
        super().__init__()
        n = 2 * d
        radius = torch.sqrt(torch.rand(n) * (r_max ** 2 - r_min ** 2) + r_min ** 2)
        self.nu_log = nn.Parameter(torch.log(-torch.log(radius)))
        self.theta_log = nn.Parameter(torch.log(torch.rand(n) * 2 * math.pi + 1e-4))
        self.in_re, self.in_im = nn.Linear(d, n), nn.Linear(d, n)
        self.out_re, self.out_im = nn.Linear(n, d), nn.Linear(n, d, bias=False)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)

    def decay(self) -> torch.Tensor:
        """``lam``, complex ``[2 d]``, each of modulus < 1."""
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def forward(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        lam = self.decay()
        gamma = torch.sqrt(1 - lam.abs() ** 2)
        keep = real.unsqueeze(-1).to(x.dtype)
        b = torch.complex(self.in_re(x) * keep, self.in_im(x) * keep) * gamma
        h = lru_scan(lam, b)
        y = self.out_re(h.real) - self.out_im(h.imag)  # Re(C h) for C = out_re + i out_im
        return self.norm(x + self.drop(y))


class FeedForward(nn.Module):
    def __init__(self, d: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d, d))
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop(self.net(x)))


@register
class LRURec(SequentialRecommender):
    """Linear recurrent units over a user's last ``max_len`` items."""

    name = "lrurec"
    Params = LRURecParams

    def __init__(self, dataset: Dataset, params: LRURecParams) -> None:
        super().__init__(dataset, params)
        d = params.hidden
        self.item_emb = nn.Embedding(self.n_items + 1, d, padding_idx=self.n_items)
        nn.init.trunc_normal_(self.item_emb.weight, std=0.02, a=-0.04, b=0.04)
        with torch.no_grad():
            self.item_emb.weight[self.n_items] = 0.0
        self.item_bias = nn.Parameter(torch.zeros(self.n_items))
        self.drop = nn.Dropout(params.dropout)
        self.norm = nn.LayerNorm(d)
        self.lru = nn.ModuleList(LRULayer(d, params.dropout, params.r_min, params.r_max)
                                 for _ in range(params.blocks))
        self.ffn = nn.ModuleList(FeedForward(d, params.dropout) for _ in range(params.blocks))

    def encode(self, histories: torch.Tensor) -> torch.Tensor:
        index, real = padded_index(histories, self.n_items)
        x = self.norm(self.drop(self.item_emb(index)))
        for lru, ffn in zip(self.lru, self.ffn):
            x = ffn(lru(x, real))
        return x

    def output_items(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.item_emb.weight[: self.n_items], self.item_bias
