"""Fusing per-modality item vectors on the unit sphere: spherical linear interpolation and its Bézier curve.

The spherical Bézier curve through any number of modality vectors is evaluated by de Casteljau's construction with
slerp in place of linear interpolation (Shoemake, "Animating Rotation with Quaternion Curves", SIGGRAPH 1985), so
the fused vector stays on the sphere for two, three or more modalities ("CM3: Calibrating Multimodal
Recommendation", 2025).
"""

from __future__ import annotations

import torch
from torch import nn


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Row-wise spherical interpolation from unit vectors ``a`` (``t = 0``) to ``b`` (``t = 1``); ``t`` is
    ``[B]``. Nearly parallel rows fall back to linear interpolation."""
    dot = (a * b).sum(1).clamp(-1 + eps, 1 - eps)
    theta = torch.acos(dot)
    sin = torch.sin(theta)
    t = t.unsqueeze(1)
    wa = torch.sin((1 - t) * theta.unsqueeze(1)) / sin.unsqueeze(1)
    wb = torch.sin(t * theta.unsqueeze(1)) / sin.unsqueeze(1)
    near = (sin < 1e-4).unsqueeze(1)
    return torch.where(near, (1 - t) * a + t * b, wa * a + wb * b)


def spherical_bezier(points: list[torch.Tensor], t: torch.Tensor) -> torch.Tensor:
    """The point at ``t`` (``[B]``) of the spherical Bézier curve with control points ``points`` (each ``[B, d]``,
    normalised here), by de Casteljau's construction with :func:`slerp`."""
    level = [nn.functional.normalize(p, dim=1) for p in points]
    while len(level) > 1:
        level = [slerp(level[i], level[i + 1], t) for i in range(len(level) - 1)]
    return level[0]
