"""Pure pieces of the closed-form and neighbourhood baselines (EASE, CEASE, ItemKNN, ItemKNN-CBF).

* :func:`gram_matrix`, :func:`ease_weights`: Steck's closed form ``B = I - P diagMat(1 / diag(P))`` with
  ``P = (G + λI)^-1`` for any Gram matrix ``G`` (``XᵀX`` for EASE; ``XᵀX + w F Fᵀ`` for CEASE).
* :func:`dense_fit_bytes`, :func:`check_dense_fits`: what the dense ``n_items x n_items`` fit needs, and a clear
  refusal when a catalogue is too large for it.
* :func:`shrunk_cosine_top_k`, :func:`neighbour_matrix`: the shrunk cosine of Dacrema et al. (RecSys 2019),
  ``s_ij = v_i·v_j / (‖v_i‖ ‖v_j‖ + shrink)``, pruned to each item's ``k`` most similar items, in row blocks of
  bounded memory (never a whole ``n x n`` matrix), for sparse (interaction) or dense (content) item vectors.
* :func:`train_rows`, :func:`sparse_rows`, :func:`scores_dense_weights`, :func:`scores_sparse_weights`: a batch of
  users' binary training rows and ``X[users] @ W``.
* :func:`normalised_content`: the item content the content-aware baselines read.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data import Dataset, concat_normalised
from alignrec.errors import ConfigError
from alignrec.models.content import modality_inputs
from alignrec.models.graph import interaction_matrix, sparse_product

SIMILARITY_BLOCK_BYTES = 256 * 2**20  # one block of similarities ``[rows, n_items]`` float32
GRAM_BLOCK_BYTES = 64 * 2**20  # one dense block of Gram rows (its sparse product is about as large)


def gram_matrix(x: sp.spmatrix, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu",
                block_bytes: int = GRAM_BLOCK_BYTES) -> torch.Tensor:
    """``XᵀX`` of a sparse ``[n_users, n_items]`` matrix as a dense ``[n_items, n_items]`` tensor on ``device``.

    The sparse product runs on the CPU in blocks of item columns (memory: the result plus one dense block).
    """
    csr = sp.csr_matrix(x, dtype=np.float64)
    xt = csr.T.tocsr()
    n = csr.shape[1]
    gram = torch.empty(n, n, dtype=dtype, device=device)
    step = max(1, min(n, block_bytes // (8 * max(n, 1))))
    for start in range(0, n, step):
        block = (xt[start:start + step] @ csr).toarray()
        gram[start:start + step] = torch.from_numpy(block).to(device=device, dtype=dtype)
    return gram


def ease_weights(gram: torch.Tensor, reg_weight: float) -> torch.Tensor:
    """EASE's item-item weights ``B`` ``[n, n]`` from a Gram matrix, computed in place: ``gram`` itself is
    returned, holding ``B`` (same dtype and device).

    ``P = (gram + reg_weight I)^-1`` by Cholesky (the matrix is symmetric positive definite for
    ``reg_weight > 0``), ``B_ij = -P_ij / P_jj`` off the diagonal and ``B_jj = 0``. On the CPU no other
    ``n x n`` matrix is allocated; on a GPU torch's Cholesky inverse works on one copy.
    """
    if reg_weight <= 0:
        raise ConfigError(f"EASE needs a positive reg_weight, got {reg_weight}")
    gram.diagonal().add_(reg_weight)
    info = torch.empty((), dtype=torch.int32, device=gram.device)
    torch.linalg.cholesky_ex(gram, out=(gram, info))  # the lower factor L, in place
    if int(info) != 0:
        raise ConfigError(f"the EASE system is not positive definite in floating point (Cholesky failed at row "
                          f"{int(info)}); raise params.reg_weight (now {reg_weight})")
    p = torch.cholesky_inverse(gram, out=gram)  # (L Lᵀ)^-1, in place
    p.div_(-p.diagonal().clone())  # broadcasting over rows: column j divided by -P_jj
    p.fill_diagonal_(0.0)
    return p


def dense_fit_bytes(n_items: int, itemsize: int = 8) -> int:
    """Peak bytes of a dense EASE fit, bounded for any device: the ``n x n`` Gram matrix of ``itemsize`` (solved in
    place), one copy of it (what torch's Cholesky inverse takes on a GPU; on the CPU it is not needed) and the
    model's float32 ``n x n`` weights."""
    return n_items * n_items * (2 * itemsize + 4)


def check_dense_fits(model: str, n_items: int, max_memory_gb: float, itemsize: int = 8) -> None:
    """Refuse (ConfigError) a catalogue whose dense fit (:func:`dense_fit_bytes`) exceeds ``max_memory_gb``."""
    if max_memory_gb <= 0:
        raise ConfigError(f"max_memory_gb must be positive, got {max_memory_gb}")
    need = dense_fit_bytes(n_items, itemsize) / 1e9
    if need > max_memory_gb:
        raise ConfigError(f"{model} needs dense {n_items} x {n_items} matrices ({need:.1f} GB to fit); this "
                          f"catalogue is too large for params.max_memory_gb={max_memory_gb:g}: use itemknn, or raise "
                          "params.max_memory_gb if the machine has the memory")


def _row_norms(vectors: np.ndarray | sp.spmatrix) -> np.ndarray:
    if sp.issparse(vectors):
        return np.sqrt(np.asarray(sp.csr_matrix(vectors).multiply(vectors).sum(axis=1)).ravel()).astype(np.float32)
    return np.linalg.norm(np.asarray(vectors, dtype=np.float32), axis=1)


def neighbour_count(n_items: int, k: int, exclude_self: bool) -> int:
    """How many neighbours each item keeps: ``k``, at most the other items (and the item itself unless
    ``exclude_self``)."""
    return max(0, min(k, n_items - 1 if exclude_self else n_items))


def shrunk_cosine_top_k(vectors: np.ndarray | sp.spmatrix, k: int, shrink: float, exclude_self: bool = True,
                        block_bytes: int = SIMILARITY_BLOCK_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``k`` most similar items by ``s_ij = v_i·v_j / (‖v_i‖ ‖v_j‖ + shrink)``.

    ``vectors`` ``[n, d]``: one row per item, sparse (e.g. ``Xᵀ``, items by users) or dense (content). Returns
    ``(values float32, indices int64)``, both ``[n, k']`` with ``k' = min(k, n - 1)`` when ``exclude_self``
    (the item is never its own neighbour) else ``min(k, n)``, most similar first (ties in torch's order). A pair
    with a zero denominator has similarity 0. Memory: one ``[rows, n]`` block of ``block_bytes`` plus the result.
    """
    if k < 1:
        raise ConfigError(f"kNN needs k >= 1, got k={k}")
    if shrink < 0:
        raise ConfigError(f"the shrink term must be non-negative, got {shrink}")
    n = vectors.shape[0]
    k = neighbour_count(n, k, exclude_self)
    norms = torch.from_numpy(_row_norms(vectors))
    sparse = sp.issparse(vectors)
    if sparse:
        rows_csr = sp.csr_matrix(vectors, dtype=np.float32)
        cols_csr = rows_csr.T.tocsr()
    else:
        dense = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    values, indices = np.zeros((n, k), dtype=np.float32), np.zeros((n, k), dtype=np.int64)
    if k == 0:
        return values, indices
    step = max(1, min(n, block_bytes // (4 * n)))
    for start in range(0, n, step):
        stop = min(start + step, n)
        dots = (torch.from_numpy((rows_csr[start:stop] @ cols_csr).toarray()) if sparse
                else dense[start:stop] @ dense.T)
        denom = norms[start:stop, None] * norms[None, :] + shrink
        sims = torch.where(denom > 0, dots / torch.where(denom > 0, denom, 1.0), 0.0)
        if exclude_self:
            local = torch.arange(stop - start)
            sims[local, local + start] = -torch.inf
        top = torch.topk(sims, k, dim=1)
        values[start:stop], indices[start:stop] = top.values.numpy(), top.indices.numpy()
    return values, indices


def neighbour_matrix(values: np.ndarray, indices: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """Sparse ``[n, n_cols]`` matrix whose row ``r`` holds ``values[r]`` at columns ``indices[r]`` (zeros dropped)."""
    n, k = indices.shape
    keep = values.reshape(-1) != 0
    rows = np.repeat(np.arange(n), k)[keep]
    return sp.csr_matrix((values.reshape(-1)[keep], (rows, indices.reshape(-1)[keep])), shape=(n, n_cols),
                         dtype=np.float32)


def train_rows(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The binary training matrix's CSR ``indptr`` and ``indices`` as int64 tensors (for :func:`sparse_rows`)."""
    x = interaction_matrix(dataset.train, dataset.n_users, dataset.n_items)
    x.sort_indices()
    return torch.from_numpy(x.indptr.astype(np.int64)), torch.from_numpy(x.indices.astype(np.int64))


def sparse_rows(indptr: torch.Tensor, indices: torch.Tensor, rows: torch.Tensor, n_cols: int) -> torch.Tensor:
    """Rows ``rows`` of a binary CSR matrix (``indptr``, ``indices``) as a sparse CSR float32 tensor
    ``[len(rows), n_cols]`` on ``indptr``'s device: a batch of users' training rows ``X[users]``, with 32-bit
    indices where they fit (as :func:`alignrec.models.graph.to_torch_csr`)."""
    device = indptr.device
    rows = rows.to(device)
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    crow = torch.zeros(len(rows) + 1, dtype=torch.int64, device=device)
    torch.cumsum(counts, 0, out=crow[1:])
    total = int(crow[-1])
    batch_row = torch.repeat_interleave(torch.arange(len(rows), device=device), counts)
    position = torch.arange(total, device=device) - crow[:-1][batch_row] + starts[batch_row]
    index = torch.int32 if max(total, n_cols, len(rows)) < torch.iinfo(torch.int32).max else torch.int64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "sparse CSR is beta" notice
        return torch.sparse_csr_tensor(crow.to(index), indices[position].to(index),
                                       torch.ones(total, dtype=torch.float32, device=device), size=(len(rows), n_cols))


def scores_dense_weights(user_rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``X[users] @ W`` ``[b, n]`` for the sparse user rows ``[b, m]`` of :func:`sparse_rows` and a dense ``W``
    ``[m, n]`` (EASE's ``B``): the cost follows the users' interactions, not ``b x m x n``."""
    return sparse_product(user_rows, weights)


def scores_sparse_weights(user_rows: torch.Tensor, weights_t: torch.Tensor) -> torch.Tensor:
    """``X[users] @ W`` ``[b, n]`` for the sparse user rows ``[b, m]`` and a sparse CSR ``Wᵀ`` ``[n, m]`` (the kNN
    models), as ``(Wᵀ X[users]ᵀ)ᵀ``: ``nnz(W) x b``. A product of the two sparse matrices is slower: popular items
    are everyone's neighbours, so the result is dense anyway."""
    return sparse_product(weights_t, user_rows.to_dense().T.contiguous()).T.contiguous()


def normalised_content(dataset: Dataset, feature: str | None) -> np.ndarray:
    """``[n_items, d]`` float32: the L2-normalised modalities side by side (sorted names, stage-1 features
    skipped), or the one matrix ``feature`` names, L2-normalised; items without content have zero rows."""
    inputs = modality_inputs(dataset, feature)
    return concat_normalised([inputs[name] for name in sorted(inputs)])


def standardised_rows(scores: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each row of ``scores`` ``[b, n]`` as z-scores (mean 0, sample std 1): a per-user monotone rescaling, so two
    models' scores can be added with a scale-free weight without changing either model's own ranking."""
    return (scores - scores.mean(1, keepdim=True)) / scores.std(1, keepdim=True).clamp_min(eps)
