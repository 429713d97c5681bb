"""SASRec (Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018).

Item embeddings (scaled by ``sqrt(d)``) plus learned absolute positions go through blocks of causal self-attention
and a point-wise two-layer feed-forward network, each as ``x + Dropout(f(LayerNorm(x)))``; the last block's
normalised state at a position scores the next item against the same (shared) item embeddings. Paper defaults:
2 blocks, 1 head, ``max_len`` 50 (Amazon; 200 for MovieLens-1M), dropout 0.5 on the sparse Amazon sets and 0.2 on
MovieLens-1M (0.2 here), lr 1e-3 with Adam, batch 128; ``d`` is 50 there, 64 here. The paper trains with binary
cross-entropy against one sampled negative per position (``loss="bce"``); the default is cross-entropy over all
items (``loss="ce"``), which later work found much stronger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alignrec.data import Dataset
from alignrec.errors import ConfigError
from alignrec.models.base import register
from alignrec.models.sequential import SequentialParams, SequentialRecommender, padded_index


@dataclass
class SASRecParams(SequentialParams):
    hidden: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2


class SelfAttentionBlock(nn.Module):
    """Pre-norm causal self-attention then feed-forward, each with a residual: ``[B, L, d] -> [B, L, d]``."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ffn = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``allowed``: ``bool [B, 1, L, L]``, whether query position ``t`` may attend to key position ``s``."""
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                                  dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.out(attended.transpose(1, 2).reshape(b, length, d)))
        return x + self.drop(self.ffn(self.norm2(x)))


@register
class SASRec(SequentialRecommender):
    """Causal Transformer over a user's last ``max_len`` items."""

    name = "sasrec"
    Params = SASRecParams

    def __init__(self, dataset: Dataset, params: SASRecParams) -> None:
        super().__init__(dataset, params)
        if params.hidden % params.heads:
            raise ConfigError(f"params.hidden ({params.hidden}) must be a multiple of params.heads ({params.heads})")
        d = params.hidden
        self.item_emb = nn.Embedding(self.n_items + 1, d, padding_idx=self.n_items)
        self.pos_emb = nn.Embedding(params.max_len, d)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.xavier_normal_(self.pos_emb.weight)
        with torch.no_grad():
            self.item_emb.weight[self.n_items] = 0.0
        self.blocks = nn.ModuleList(SelfAttentionBlock(d, params.heads, params.dropout)
                                    for _ in range(params.blocks))
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(params.dropout)

    def encode(self, histories: torch.Tensor) -> torch.Tensor:
        index, real = padded_index(histories, self.n_items)
        length = histories.shape[1]
        positions = torch.arange(self.params.max_len - length, self.params.max_len, device=histories.device)
        x = self.item_emb(index) * math.sqrt(self.params.hidden) + self.pos_emb(positions)
        keep = real.unsqueeze(-1).to(x.dtype)
        x = self.drop(x) * keep
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        # A query attends to earlier real items; a padding query to itself (no row is all masked: no NaN).
        allowed = (causal & real[:, None, :]) | torch.eye(length, dtype=torch.bool, device=x.device)
        for block in self.blocks:
            x = block(x, allowed.unsqueeze(1)) * keep
        return self.norm(x)

    def output_items(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.item_emb.weight[: self.n_items], None
