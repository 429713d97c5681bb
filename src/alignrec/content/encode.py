"""Batched content encoding with a per-item on-disk cache, so an interrupted run resumes where it stopped.

The cache is a folder of shards ``shard-<n>.npz`` (``keys``, ``vectors``), one per encoded batch, each written
atomically. A key is a hash of the encoder name and the item's input (the text, or the image's resolved path,
size and modification time), so reordering items or adding new ones reuses everything already encoded.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alignrec.content.image import ImageLoadError
from alignrec.io import atomic_path
from alignrec.progress import progress as progress_bar

log = logging.getLogger("alignrec.content")


@dataclass
class Encoded:
    """``matrix [n_items, d]`` (zero rows where the item has no such content) and ``mask [n_items]`` (1 = present)."""

    matrix: np.ndarray
    mask: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)


def _text_key(encoder_name: str, text: str) -> str:
    return hashlib.sha1(f"{encoder_name}\0text\0{text}".encode()).hexdigest()


def _image_key(encoder_name: str, path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return hashlib.sha1(f"{encoder_name}\0image\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()


def read_cache(cache_dir: Path | None) -> dict[str, np.ndarray]:
    """Every cached vector in ``cache_dir`` by key (an unreadable shard is skipped and re-encoded)."""
    out: dict[str, np.ndarray] = {}
    if cache_dir is None or not cache_dir.is_dir():
        return out
    for shard in sorted(cache_dir.glob("shard-*.npz")):
        try:
            with np.load(shard, allow_pickle=False) as data:
                out.update(zip(data["keys"].tolist(), data["vectors"]))
        except (OSError, ValueError, KeyError):
            log.warning("%s: unreadable cache shard ignored", shard)
    return out


def _write_shard(cache_dir: Path, keys: list[str], vectors: np.ndarray) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    index = len(list(cache_dir.glob("shard-*.npz")))
    target = cache_dir / f"shard-{index:06d}-{keys[0][:8]}.npz"
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, keys=np.asarray(keys), vectors=vectors.astype(np.float32))


def encode_texts_cached(texts: list[str], encoder: Any, cache_dir: Path | None = None, batch_size: int = 128,
                        progress: bool = True) -> Encoded:
    """Encode item texts; an empty text gives a zero row and mask 0."""
    keys = [_text_key(encoder.name, t) if t and t.strip() else None for t in texts]
    return _encode(keys, texts, encoder, cache_dir, batch_size, progress, load=None, what="text")


def encode_images_cached(paths: list[str | Path | None], encoder: Any, cache_dir: Path | None = None,
                         batch_size: int = 32, progress: bool = True) -> Encoded:
    """Encode item images; a missing or unreadable image gives a zero row and mask 0, counted in the report."""
    resolved = [Path(p) if p else None for p in paths]
    keys = [_image_key(encoder.name, p) if p is not None else None for p in resolved]
    return _encode(keys, resolved, encoder, cache_dir, batch_size, progress, load=encoder.load, what="image")


def _encode(keys: list[str | None], inputs: list[Any], encoder: Any, cache_dir: Path | None, batch_size: int,
            progress: bool, load: Any, what: str) -> Encoded:
    n = len(keys)
    cached = read_cache(cache_dir)
    matrix = np.zeros((n, encoder.dim), dtype=np.float32)
    mask = np.zeros(n, dtype=bool)
    report: dict[str, Any] = {"encoder": encoder.name, "items": n, "no_input": 0, "unreadable": 0, "from_cache": 0,
                              "encoded": 0, "unreadable_examples": []}
    todo: list[int] = []
    for i, key in enumerate(keys):
        if key is None:
            report["no_input"] += 1
        elif key in cached:
            matrix[i], mask[i] = cached[key], True
            report["from_cache"] += 1
        else:
            todo.append(i)
    bar = progress_bar(total=len(todo), desc=f"encode {what} ({encoder.name})", unit="items", enabled=progress)
    for start in range(0, len(todo), batch_size):
        batch, loaded = [], []
        for i in todo[start:start + batch_size]:
            if load is None:
                batch.append(i)
                loaded.append(inputs[i])
                continue
            try:
                loaded.append(load(inputs[i]))
                batch.append(i)
            except ImageLoadError as exc:
                report["unreadable"] += 1
                if len(report["unreadable_examples"]) < 5:
                    report["unreadable_examples"].append(str(exc))
                log.debug("%s", exc)
        if batch:
            vectors = encoder.encode(loaded)
            matrix[batch], mask[batch] = vectors, True
            report["encoded"] += len(batch)
            if cache_dir is not None:
                _write_shard(cache_dir, [keys[i] for i in batch], vectors)  # type: ignore[misc]
        bar.update(min(batch_size, len(todo) - start))
    bar.close()
    report["present"] = int(mask.sum())
    if report["no_input"] or report["unreadable"]:
        log.warning("%s: %d of %d items have no %s, %d more could not be read (treated as missing)",
                    encoder.name, report["no_input"], n, what, report["unreadable"])
    return Encoded(matrix, mask, report)
