"""A new item's position in a run's content space, computed the way the catalogue's was (cold start).

Each modality of the content space that the run encoded with an alignrec encoder (``encode_report.json``, recorded
in the export) is encoded again from the new item's text or image with the same encoder spec; a modality the item
does not have is missing (a zero row, as in the catalogue). Then, like the catalogue:

* ``unified`` or ``unified_<variant>`` (AlignRec stage 1): the L2-normalised modality embeddings go through the
  run's MMEnc (weights from the export's ``mmenc.npz``; missing modalities are left out of its fusion);
* ``concat``: the L2-normalised modality embeddings are concatenated;
* a single modality: its embedding.

Encoders are loaded on first use and shared; calls are serialised, since encoding is CPU-bound anyway.
"""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.content.image import IMAGE_HEAD, ImageLoadError, image_media_type, pixel_limit_error
from alignrec.content.mmenc import MMEnc
from alignrec.content.registry import build_encoder, encoder_kind
from alignrec.content.weights import fit_weights
from alignrec.data.dataset import is_stage1_feature, l2_normalise
from alignrec.errors import AlignRecError
from alignrec.serving.errors import BadMedia, TooLarge, Unsupported


def check_image(data: bytes, field: str = "image", max_pixels: int | None = None) -> None:
    """Refuse bytes that are not a JPEG, PNG, GIF or WebP image that can be decoded (:class:`BadMedia`, HTTP 415),
    or an image of more than ``max_pixels`` (:class:`TooLarge`, 413, read from the header before any decoding)."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise Unsupported("images need pillow on the server: pip install 'alignrec[image]'", field) from exc
    if image_media_type(data[:IMAGE_HEAD]) is None:
        raise BadMedia(f"the uploaded {field} is not a JPEG, PNG, GIF or WebP image (not a known image format)",
                       field)
    try:
        with Image.open(io.BytesIO(data)) as img:  # the header only
            if too_large := pixel_limit_error(img.size, max_pixels):
                raise TooLarge(f"the uploaded {field} has {too_large}", field)
            img.verify()
    except TooLarge:
        raise
    except Image.DecompressionBombError as exc:  # PIL's own limit, met before the header could be read here
        raise TooLarge(f"the uploaded {field} has more pixels than PIL decodes ({exc})", field) from exc
    except Exception as exc:  # PIL raises many types for bad input
        reason = "not a known image format" if type(exc).__name__ == "UnidentifiedImageError" else str(exc)
        raise BadMedia(f"the uploaded {field} is not an image that can be decoded ({reason})", field) from exc


class NewItemEncoder:
    """``encode(text, image) -> [d_content]`` for the content space described by the export's manifest."""

    def __init__(self, content: dict[str, Any] | None, mmenc_weights: dict[str, np.ndarray] | None,
                 specs: dict[str, str] | None = None, max_pixels: int | None = None) -> None:
        """``specs``: each modality's encoder spec with any file it names resolved inside the export (see
        :func:`alignrec.serving.export_check.encoder_specs`); without it, the manifest's specs as they are."""
        self.content = content or {}
        support = self.content.get("new_items", {"possible": False, "reason": "the run has no item content"})
        self.possible, self.reason = bool(support.get("possible")), support.get("reason", "")
        self.specs: dict[str, str] = dict(self.content.get("encoders", {}) if specs is None else specs)
        self.max_pixels = max_pixels
        self.kinds = {name: encoder_kind(spec) for name, spec in self.specs.items()}
        self._weights = mmenc_weights
        self._encoders: dict[str, Any] = {}
        self._mmenc: MMEnc | None = None
        self._lock = threading.Lock()

    def accepts(self) -> list[str]:
        """Which inputs (``"text"``, ``"image"``) can be encoded."""
        return sorted(set(self.kinds.values())) if self.possible else []

    def _encoder(self, name: str) -> Any:
        if name not in self._encoders:
            try:
                self._encoders[name] = build_encoder(self.specs[name])
            except AlignRecError as exc:  # e.g. the encoder's package is not installed on this server
                raise Unsupported(f"this server cannot load the {name} encoder {self.specs[name]!r}: {exc}",
                                  self.kinds[name]) from exc
        return self._encoders[name]

    def _modality_vector(self, name: str, text: str | None, image: bytes | None) -> np.ndarray | None:
        kind = self.kinds.get(name)
        vector = None
        if kind == "text" and text:
            vector = self._encoder(name).encode([text])[0]
        if kind == "image" and image is not None:
            encoder = self._encoder(name)
            with tempfile.NamedTemporaryFile(suffix=".img") as handle:
                handle.write(image)
                handle.flush()
                try:
                    pixels = encoder.load(Path(handle.name), self.max_pixels)
                except ImageLoadError as exc:
                    raise BadMedia(f"the uploaded image cannot be read: {exc}", "image") from exc
            vector = encoder.encode([pixels])[0]
        dim = self.content.get("modality_dims", {}).get(name)
        if vector is not None and vector.shape != (dim,):
            raise Unsupported(f"the {name} encoder {self.specs[name]!r} gives {vector.shape[-1]}-d vectors, but the "
                              f"run's {name} feature is {dim}-d", kind)
        return vector

    def encode(self, text: str | None, image: bytes | None) -> tuple[np.ndarray, list[str]]:
        """The content vector and which of the inputs (``"text"``, ``"image"``) went into it."""
        if not self.possible:
            raise Unsupported(f"this run cannot place a new item in its content space: {self.reason}")
        given = {"text": bool(text), "image": image is not None}
        usable = [kind for kind, present in given.items() if present and kind in self.kinds.values()]
        if not usable:
            wanted = [kind for kind, present in given.items() if present]
            raise Unsupported(f"this run encodes new items from {self.accepts()} only; got {wanted or 'nothing'}",
                              "text" if "text" in wanted or not wanted else "image")
        with self._lock:
            vectors = {name: self._modality_vector(name, text, image) for name in self.content["modalities"]}
            return self._combine(vectors), usable

    def _combine(self, vectors: dict[str, np.ndarray | None]) -> np.ndarray:
        feature = self.content["feature"]
        dims = self.content.get("modality_dims", {})
        mats = [l2_normalise(np.zeros((1, dims[name]), np.float32) if v is None else v[None, :])
                for name, v in vectors.items()]
        if is_stage1_feature(feature):
            present = torch.tensor([[v is not None for v in vectors.values()]])
            with torch.no_grad():
                return self._unified_model()([torch.from_numpy(m) for m in mats], present)[0].numpy()
        if feature == "concat":
            return np.concatenate(mats, axis=1)[0]
        return next(v for v in vectors.values() if v is not None)  # one modality: the feature is the encoding

    def _unified_model(self) -> MMEnc:
        if self._mmenc is None:
            spec = self.content["mmenc"]
            arch = {k: spec[k] for k in ("width", "out_dim", "fusion", "layers", "heads", "dropout") if k in spec}
            model = MMEnc(list(spec["dims"]), **arch)
            weights = self._weights or {}
            # the export's validator checked the names and shapes against this architecture at start
            fit_weights(model, {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in weights.items()},
                        "mmenc.npz")
            self._mmenc = model.eval()
        return self._mmenc
