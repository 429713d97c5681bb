"""Top-k retrieval by inner product with FAISS (Johnson, Douze, Jégou, "Billion-scale similarity search with GPUs",
IEEE Trans. Big Data 2019; the ``faiss-cpu`` package).

* ``exact``: ``IndexFlatIP``, every item scored; the default below :data:`APPROX_FROM` items.
* ``hnsw``: ``IndexHNSWFlat`` (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
  Hierarchical Navigable Small World graphs", TPAMI 2018), inner-product metric.
* ``ivf``: ``IndexIVFFlat`` (inverted file over k-means cells; Jégou, Douze, Schmid, "Product quantization for
  nearest neighbor search", TPAMI 2011), inner-product metric, about 4 sqrt(n) cells, a fifth of them probed.

Items to leave out of a query's answer (a user's training items) are handled by asking for ``k`` plus their number
and dropping them, so every index kind excludes them the same way. Cosine similarity is the inner product of
L2-normalised vectors (:func:`cosine_index`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from alignrec.data.dataset import l2_normalise
from alignrec.errors import ConfigError
from alignrec.models.knn import import_faiss

KINDS = ("auto", "exact", "hnsw", "ivf")
APPROX_FROM = 100_000  # "auto" builds an HNSW index from this many vectors on
RECALL_QUERIES = 1000


def ivf_cells(n: int) -> int:
    """Number of k-means cells: about 4 sqrt(n), with at least 39 training points per cell (FAISS's minimum)."""
    return max(1, min(int(4 * np.sqrt(n)), n // 39))


class VectorIndex:
    """An inner-product index over ``vectors [n, d]``; :meth:`search` returns the ``k`` best ids per query."""

    def __init__(self, vectors: np.ndarray, kind: str = "exact", hnsw_m: int = 32, ef_construction: int = 80,
                 ef_search: int = 64, nlist: int | None = None, nprobe: int | None = None) -> None:
        if kind not in KINDS[1:]:
            raise ConfigError(f"index kind must be one of {KINDS[1:]}, got {kind!r}")
        faiss = import_faiss("serving")
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        self.n, self.dim = x.shape
        self.kind, self.hnsw_m, self.ef_search, self.nprobe = kind, hnsw_m, ef_search, nprobe or 16
        self.nlist = 0
        self.recall: float | None = None  # Recall@k against the exact index, when build_index measured it
        start = time.perf_counter()
        if kind == "exact":
            self.index = faiss.IndexFlatIP(self.dim)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(self.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
        else:
            self.nlist = nlist or ivf_cells(self.n)
            self.nprobe = nprobe or max(16, self.nlist // 5)  # Book-Crossing: nlist 340, nprobe 68, recall@20 .955
            self.quantizer = faiss.IndexFlatIP(self.dim)
            self.index = faiss.IndexIVFFlat(self.quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
            self.index.train(x)
        self.index.add(x)
        self.build_seconds = time.perf_counter() - start

    def describe(self) -> str:
        if self.kind == "hnsw":
            return f"hnsw (M={self.hnsw_m}, efSearch={self.ef_search})"
        if self.kind == "ivf":
            return f"ivf (nlist={self.nlist}, nprobe={self.nprobe})"
        return "exact"

    def _params(self, k: int) -> Any:
        faiss = import_faiss("serving")
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(nprobe=min(self.nprobe, self.nlist))
        return None

    def search(self, queries: np.ndarray, k: int, exclude: list[np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, each ``[len(queries), k]``, best first; ids in ``exclude[q]`` are left out of row
        ``q``. A row with fewer than ``k`` answers is padded with id -1 and score -inf."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        extra = max((len(e) for e in exclude), default=0) if exclude is not None else 0
        fetch = min(self.n, k + extra)
        scores, ids = self.index.search(q, fetch, params=self._params(fetch))
        out_ids = np.full((len(q), k), -1, dtype=np.int64)
        out_scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        for row in range(len(q)):
            keep = ids[row] >= 0
            if exclude is not None and len(exclude[row]):
                keep &= ~np.isin(ids[row], exclude[row])
            found = ids[row][keep][:k]
            out_ids[row, :len(found)] = found
            out_scores[row, :len(found)] = scores[row][keep][:k]
        return out_scores, out_ids


def cosine_index(vectors: np.ndarray, kind: str = "exact", **options: Any) -> VectorIndex:
    """An index whose inner products are cosine similarities (rows L2-normalised; zero rows stay zero)."""
    return VectorIndex(l2_normalise(vectors), kind, **options)


def recall_at_k(approx: VectorIndex, exact: VectorIndex, queries: np.ndarray, k: int) -> float:
    """Mean share of the exact top-``k`` that ``approx`` also returns (Recall@k of the approximation)."""
    k = min(k, exact.n)
    _, truth = exact.search(queries, k)
    _, found = approx.search(queries, k)
    hits = [len(np.intersect1d(t[t >= 0], f[f >= 0])) / max(1, int((t >= 0).sum())) for t, f in zip(truth, found)]
    return float(np.mean(hits)) if hits else 1.0


def resolve_kind(kind: str, n: int) -> str:
    if kind not in KINDS:
        raise ConfigError(f"index must be one of {KINDS}, got {kind!r}")
    return ("hnsw" if n >= APPROX_FROM else "exact") if kind == "auto" else kind


def build_index(vectors: np.ndarray, kind: str = "auto", queries: np.ndarray | None = None, k: int = 20,
                name: str = "items", log: Callable[[str], Any] = print, cosine: bool = False,
                seed: int = 0) -> VectorIndex:
    """Build the index ``kind`` asks for (``auto``: by size); an approximate one has its Recall@``k`` against the
    exact index measured on up to :data:`RECALL_QUERIES` of ``queries`` (default: the vectors themselves) and
    logged with its build time."""
    resolved = resolve_kind(kind, len(vectors))
    make = cosine_index if cosine else VectorIndex
    index = make(vectors, resolved)
    line = f"index {name}: {index.describe()} over {index.n} vectors (dim {index.dim}), built in " \
           f"{index.build_seconds:.2f} s"
    if resolved != "exact":
        pool = vectors if queries is None else queries
        pick = np.random.default_rng(seed).choice(len(pool), min(RECALL_QUERIES, len(pool)), replace=False)
        sample = l2_normalise(pool[pick]) if cosine else np.asarray(pool[pick], dtype=np.float32)
        index.recall = recall_at_k(index, make(vectors, "exact"), sample, k)
        line += f"; recall@{k} against the exact index {index.recall:.4f} on {len(pick)} queries"
    log(line)
    return index
