"""Top-k cosine neighbours of every row of a feature matrix, without an ``n x n`` matrix.

Three backends behind :func:`cosine_top_k`:

- ``"exact"``: torch products in row blocks of at most :data:`SIMILARITY_BLOCK_BYTES` and ``torch.topk``;
  memory is one block plus the ``n x k`` result.
- ``"faiss-flat"``: the same exact search by FAISS's flat inner-product index (Johnson, Douze and Jégou,
  "Billion-scale similarity search with GPUs", IEEE Trans. Big Data 2019; the ``faiss-cpu`` package).
- ``"faiss-hnsw"``: approximate search on a FAISS HNSW graph (Malkov and Yashunin, "Efficient and robust
  approximate nearest neighbor search using Hierarchical Navigable Small World graphs", TPAMI 2018); memory
  ``O(n (d + M))``, time about ``n log n``, for catalogues where the exact search is too slow.

``"auto"`` keeps the exact search up to :data:`APPROXIMATE_FROM` rows, where it takes minutes on a laptop, and
uses HNSW beyond when ``faiss-cpu`` is installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from alignrec.errors import ConfigError

SIMILARITY_BLOCK_BYTES = 256 * 2**20
APPROXIMATE_FROM = 100_000
BACKENDS = ("auto", "exact", "faiss-flat", "faiss-hnsw")
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 128


def import_faiss(needed_for: str = "the faiss kNN backends") -> Any:
    """The ``faiss`` module, or a ConfigError saying what needs it and how to install it."""
    try:
        import faiss
    except ImportError as exc:
        raise ConfigError(f"{needed_for} needs faiss-cpu: pip install 'alignrec[serve]'") from exc
    return faiss


def _faiss_available() -> bool:
    try:
        import_faiss()
    except ConfigError:
        return False
    return True


def resolve_backend(backend: str, n: int) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"kNN backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    return "faiss-hnsw" if n > APPROXIMATE_FROM and _faiss_available() else "exact"


def normalised(features: np.ndarray) -> np.ndarray:
    """``[n, d]`` float32 rows scaled to unit length (all-zero rows stay zero)."""
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    return torch.nn.functional.normalize(x, dim=1).numpy()


def _exact(x: np.ndarray, k: int, chunk: int | None) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    chunk = chunk or max(1, min(n, SIMILARITY_BLOCK_BYTES // (4 * max(n, 1))))
    xt = torch.from_numpy(x)
    values, indices = np.empty((n, k), dtype=np.float32), np.empty((n, k), dtype=np.int64)
    for start in range(0, n, chunk):
        top = torch.topk(xt[start:start + chunk] @ xt.T, k, dim=1)
        values[start:start + chunk], indices[start:start + chunk] = top.values.numpy(), top.indices.numpy()
    return values, indices


def _faiss_search(x: np.ndarray, k: int, approximate: bool) -> tuple[np.ndarray, np.ndarray]:
    faiss = import_faiss()
    if approximate:
        index = faiss.IndexHNSWFlat(x.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
    else:
        index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    values, indices = index.search(x, k)
    missing = indices < 0  # HNSW may return fewer than k; such slots point at the row itself with weight 0
    if missing.any():
        rows = np.broadcast_to(np.arange(x.shape[0])[:, None], indices.shape)
        indices[missing], values[missing] = rows[missing], 0.0
    return values.astype(np.float32), indices.astype(np.int64)


def cosine_top_k(features: np.ndarray, k: int, backend: str = "auto",
                 chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` most cosine-similar rows (itself included) of ``features`` ``[n, d]``.

    Returns ``(values, indices)``, both ``[n, min(k, n)]``, most similar first. An all-zero row has
    similarity 0 to every row. ``chunk`` sets the exact backend's block height (rows).
    """
    x = normalised(features)
    n = x.shape[0]
    k = min(k, n)
    if k < 1:
        raise ConfigError(f"kNN needs k >= 1 and at least one row, got k={k} for {n} rows")
    chosen = resolve_backend(backend, n)
    if chosen == "exact":
        return _exact(x, k, chunk)
    return _faiss_search(x, k, approximate=chosen == "faiss-hnsw")
