"""MMEnc: the stage-1 fusion encoder that turns per-modality item embeddings into one unified feature.

AlignRec's inter-content alignment (Liu et al., "AlignRec: Aligning and Training in Multimodal
Recommendations", CIKM 2024, arXiv 2403.12384) pre-trains a BEiT-3 backbone (Wang et al., "Image as a Foreign
Language", CVPR 2023) on image-text pairs. On the CPU this module implements the same stage over frozen encoder
outputs: each modality is projected to a shared width and becomes a token; a small transformer (or an MLP over
the mean token) fuses the present tokens with a [CLS] token; the pooled [CLS] output is the unified feature.
Missing modalities are left out of attention (MLP: out of the mean), so any subset of modalities gives a feature.
"""

from __future__ import annotations

import torch
from torch import nn


class MMEnc(nn.Module):
    """``forward(xs, present) -> [B, out_dim]`` for modality tensors ``xs[m] [B, d_m]`` and ``present [B, M]``."""

    def __init__(self, dims: list[int], width: int = 256, out_dim: int = 256, fusion: str = "transformer",
                 layers: int = 1, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        if fusion not in ("transformer", "mlp"):
            raise ValueError(f"fusion must be 'transformer' or 'mlp', got {fusion!r}")
        self.dims, self.fusion_kind, self.out_dim = list(dims), fusion, out_dim
        self.project = nn.ModuleList([nn.Sequential(nn.LayerNorm(d), nn.Linear(d, width)) for d in dims])
        self.modality = nn.Parameter(torch.randn(len(dims), width) * 0.02)
        self.cls = nn.Parameter(torch.randn(width) * 0.02)
        if fusion == "transformer":
            layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=dropout,
                                               batch_first=True, norm_first=True)
            self.fusion: nn.Module = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        else:
            self.fusion = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(),
                                        nn.Dropout(dropout), nn.Linear(2 * width, width))
        self.pool = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, out_dim))
        # Heads that predict each modality's (normalised) input embedding from a pooled output.
        self.predict = nn.ModuleList([nn.Sequential(nn.Linear(out_dim, width), nn.GELU(), nn.Linear(width, d))
                                      for d in dims])

    def tokens(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """``[B, M, width]`` modality tokens (projection + modality embedding)."""
        return torch.stack([proj(x) for proj, x in zip(self.project, xs)], dim=1) + self.modality

    def forward(self, xs: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        tok = self.tokens(xs)
        keep = present.bool()
        if self.fusion_kind == "mlp":
            weights = keep.float().unsqueeze(-1)
            mean = (tok * weights).sum(1) / weights.sum(1).clamp_min(1.0)
            return self.pool(mean + self.cls + self.fusion(mean + self.cls))
        cls = self.cls.expand(tok.shape[0], 1, -1)
        seq = torch.cat([cls, tok], dim=1)
        pad = torch.cat([torch.zeros_like(keep[:, :1]), ~keep], dim=1)
        return self.pool(self.fusion(seq, src_key_padding_mask=pad)[:, 0])
