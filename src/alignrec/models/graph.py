"""Pure graph constructions shared by the graph models (scipy sparse matrices, never a dense ``n x n``), and the
sparse operator that multiplies by them."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.models.knn import cosine_top_k


def to_torch_csr(matrix: sp.spmatrix) -> torch.Tensor:
    """``matrix`` as a float32 torch CSR tensor, with 32-bit indices where they fit (the CPU kernel converts 64-bit
    indices to 32 bits on every product otherwise)."""
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.sort_indices()
    index = np.int32 if max(csr.nnz, *csr.shape) < np.iinfo(np.int32).max else np.int64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "sparse CSR is beta" notice
        return torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(index)),
            torch.from_numpy(csr.indices.astype(index)),
            torch.from_numpy(csr.data),
            size=csr.shape,
        )


def _inv_sqrt(degree: np.ndarray) -> np.ndarray:
    out = np.zeros_like(degree, dtype=np.float64)
    positive = degree > 0
    out[positive] = degree[positive] ** -0.5
    return out


def interaction_matrix(train: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary ``[n_users, n_items]`` matrix of the pairs (a pair given twice is still one edge)."""
    r = sp.csr_matrix((np.ones(len(train)), (train[:, 0], train[:, 1])), shape=(n_users, n_items))
    r.data[:] = 1.0
    return r


def normalized_bipartite(train: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` of the ``(n_users + n_items)`` square user-item adjacency (LightGCN's graph)."""
    r = interaction_matrix(train, n_users, n_items)
    return sym_normalise(sp.bmat([[None, r], [r.T, None]], format="csr"))


def row_normalised_with_self_loops(train: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """``D^-1 (A + I)`` of the square user-item adjacency (LATTICE's backbone graph; not symmetric)."""
    r = interaction_matrix(train, n_users, n_items)
    adj = sp.bmat([[None, r], [r.T, None]], format="csr") + sp.eye(n_users + n_items, format="csr")
    degree = np.asarray(adj.sum(axis=1)).ravel()
    return (sp.diags(1.0 / degree) @ adj).tocsr()


def normalized_user_item(train: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """The ``[n_users, n_items]`` block of :func:`normalized_bipartite`: ``D_u^-1/2 R D_i^-1/2``."""
    r = interaction_matrix(train, n_users, n_items)
    du = sp.diags(_inv_sqrt(np.asarray(r.sum(axis=1)).ravel()))
    di = sp.diags(_inv_sqrt(np.asarray(r.sum(axis=0)).ravel()))
    return (du @ r @ di).tocsr()


def sym_normalise(adj: sp.spmatrix) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` with ``D`` the row sums of ``A`` (rows that sum to zero stay zero)."""
    adj = sp.csr_matrix(adj)
    d = sp.diags(_inv_sqrt(np.asarray(adj.sum(axis=1)).ravel()))
    return (d @ adj @ d).tocsr()


def knn_adjacency(features: np.ndarray, k: int, weighted: bool = True, chunk: int | None = None,
                  backend: str = "auto") -> sp.csr_matrix:
    """Each item's top ``k`` items by cosine similarity (itself included), as a sparse ``[n, n]`` matrix whose
    entries are the similarities (``weighted``) or 1.

    The search is :func:`alignrec.models.knn.cosine_top_k` (exact in memory-bounded blocks, or FAISS; ``auto``
    is exact up to 100k items), so memory is ``O(n k)`` plus one block, never ``n x n``. An item with an
    all-zero feature has similarity 0 to every item (its edges carry no weight when ``weighted``).
    """
    values, indices = cosine_top_k(features, k, backend=backend, chunk=chunk)
    n, k = indices.shape[0], indices.shape[1]
    data = values.reshape(-1) if weighted else np.ones(values.size, dtype=np.float32)
    return sp.csr_matrix((data, (np.repeat(np.arange(n), k), indices.reshape(-1))), shape=(n, n))


def cosine_knn_graph(features: np.ndarray, k: int, chunk: int | None = None) -> sp.csr_matrix:
    """AlignRec's item-item graph: :func:`knn_adjacency` weighted by similarity, then :func:`sym_normalise`.

    Items with an all-zero feature get no edges of positive weight and an all-zero row after normalisation.
    """
    return sym_normalise(knn_adjacency(features, k, weighted=True, chunk=chunk))


def modality_weights(names: list[str], image_weight: float) -> dict[str, float]:
    """How the modalities' graphs are mixed: ``image_weight`` and ``1 - image_weight`` when the modalities are
    exactly image and text (the authors' setting in FREEDOM, LIRDRec, REARM), equal weights otherwise."""
    if sorted(names) == ["image", "text"]:
        return {"image": image_weight, "text": 1.0 - image_weight}
    return {name: 1.0 / len(names) for name in names}


def modality_knn_graph(features: dict[str, np.ndarray], k: int, image_weight: float) -> sp.csr_matrix:
    """The frozen item-item graph of FREEDOM (and of CM3, DGVAE, LIRDRec): each modality's binary kNN graph
    normalised ``D^-1/2 A D^-1/2``, summed with :func:`modality_weights`."""
    weights = modality_weights(list(features), image_weight)
    return sum(weights[name] * sym_normalise(knn_adjacency(features[name], k, weighted=False))
               for name in sorted(features))


def mean_similarity_knn_graph(features: dict[str, np.ndarray], k: int, image_weight: float) -> sp.csr_matrix:
    """Each modality's kNN graph weighted by cosine similarity and divided by ``k`` (every row has ``k`` entries:
    the authors' ``D^-1/2 S D^-1/2`` with degrees counted on the binary kNN mask), summed with
    :func:`modality_weights` (REARM's modality graphs, for items and for users' interest vectors)."""
    weights = modality_weights(list(features), image_weight)
    return sum(weights[name] / k * knn_adjacency(features[name], k, weighted=True) for name in sorted(features))


def cooccurrence_top_k(matrix: sp.spmatrix, k: int, block: int = 4096) -> sp.csr_matrix:
    """Rows of ``M Mᵀ`` (how many columns two rows of the binary ``matrix`` share) without the diagonal, keeping
    each row's ``k`` largest counts (ties by lower index). Computed in blocks of ``block`` rows, so memory is one
    block's sparse product plus ``O(n k)``: never the whole ``M Mᵀ``. For users pass ``R``; for items ``Rᵀ``."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    m.data[:] = 1.0
    n = m.shape[0]
    rows, cols, vals = [], [], []
    for start in range(0, n, block):
        product = (m[start:start + block] @ m.T).tocoo()
        off = product.row + start != product.col
        r, c, v = product.row[off], product.col[off], product.data[off]
        order = np.lexsort((c, -v, r))  # by row, largest count first, then lower column
        r, c, v = r[order], c[order], v[order]
        first = np.searchsorted(r, np.arange(product.shape[0]))
        rank = np.arange(len(r)) - first[r]
        keep = rank < k
        rows.append(r[keep] + start)
        cols.append(c[keep])
        vals.append(v[keep])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def row_softmax(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Softmax over each row's stored entries (absent entries stay absent, not ``exp(0)``); empty rows stay
    empty."""
    m = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    counts = np.diff(m.indptr)
    if m.nnz == 0:
        return m
    row = np.repeat(np.arange(m.shape[0]), counts)
    row_max = np.full(m.shape[0], -np.inf)
    np.maximum.at(row_max, row, m.data)
    m.data = np.exp(m.data - row_max[row])
    sums = np.bincount(row, weights=m.data, minlength=m.shape[0])
    m.data /= sums[row]
    return m


def cooccurrence_graph(matrix: sp.spmatrix, k: int) -> sp.csr_matrix:
    """REARM's co-occurrence graph: :func:`cooccurrence_top_k` with each row's counts turned into weights by
    :func:`row_softmax`; a row with no co-occurring neighbour links uniformly to the ``k`` most active rows
    (most popular items, most active users), as the authors' code falls back to them."""
    top = row_softmax(cooccurrence_top_k(matrix, k))
    empty = np.flatnonzero(np.diff(top.indptr) == 0)
    if len(empty) == 0:
        return top.tocsr()
    activity = np.asarray(sp.csr_matrix(matrix).getnnz(axis=1)).ravel()
    popular = np.argsort(-activity, kind="stable")[:k]
    fallback = sp.csr_matrix((np.full(len(empty) * len(popular), 1.0 / len(popular)),
                              (np.repeat(empty, len(popular)), np.tile(popular, len(empty)))), shape=top.shape)
    return (top + fallback).tocsr()


def mix_with_cooccurrence(graph: sp.spmatrix, interactions: sp.spmatrix, k: int, weight: float) -> sp.csr_matrix:
    """``(1 - weight) graph + weight cooccurrence_graph(interactions, k)``: a similarity graph mixed with the
    co-occurrence graph of the same nodes (REARM's homogeneous graphs, AlignRec's option); ``interactions`` has one
    row per node (``R`` for users, ``Rᵀ`` for items). ``weight == 0`` returns ``graph`` without computing the
    co-occurrences."""
    if weight == 0.0:
        return sp.csr_matrix(graph)
    return ((1.0 - weight) * graph + weight * cooccurrence_graph(interactions, k)).tocsr()


def hypergraph_item_graph(features: dict[str, np.ndarray], k: int) -> sp.csr_matrix:
    """MMHCL's item-item graph from a hypergraph: every item's binary kNN set in every modality is a hyperedge
    (incidence ``H = [A_1 | A_2 | ...]``, ``n x (M n)``); items are linked by how many hyperedges they share,
    ``H Hᵀ``, normalised ``D^-1/2 (H Hᵀ) D^-1/2`` ("MMHCL: Multi-Modal Hypergraph Contrastive Learning for
    Recommendation", 2025). Sparse throughout: ``H Hᵀ`` has at most ``n k² M`` entries."""
    incidence = sp.hstack([knn_adjacency(features[name], k, weighted=False) for name in sorted(features)]).tocsr()
    return sym_normalise(incidence @ incidence.T)


def user_cooccurrence_graph(train: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Users linked by the number of items they share, ``R Rᵀ`` without self-links, row-normalised ``D^-1 A``
    (MMHCL's user-user graph; it can hold up to ``n_users²`` entries on dense data)."""
    r = interaction_matrix(train, n_users, n_items)
    shared = (r @ r.T).tolil()
    shared.setdiag(0)
    shared = shared.tocsr()
    shared.eliminate_zeros()
    degree = np.asarray(shared.sum(axis=1)).ravel()
    return (sp.diags(np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)) @ shared).tocsr()


def degree_sensitive_keep(train: np.ndarray, n_users: int, n_items: int, keep: float,
                          rng: np.random.Generator) -> np.ndarray:
    """A sample of ``round(keep * len(train))`` training pairs drawn without replacement with probability
    proportional to ``1 / sqrt(d_u d_i)``: edges between high-degree nodes, likelier noise, are dropped more
    (FREEDOM's degree-sensitive edge pruning; Zhou and Shen, "A Tale of Two Graphs: Freezing and Denoising Graph
    Structures for Multimodal Recommendation", ACM MM 2023). Weighted sampling without replacement by the
    exponential-keys method of Efraimidis and Spirakis (Information Processing Letters, 2006): O(n)."""
    d_user = np.bincount(train[:, 0], minlength=n_users)
    d_item = np.bincount(train[:, 1], minlength=n_items)
    weight = 1.0 / np.sqrt(d_user[train[:, 0]] * d_item[train[:, 1]])
    size = int(round(keep * len(train)))
    if size >= len(train):
        return train
    keys = np.log(rng.random(len(train))) / weight  # the largest keys win
    chosen = np.argpartition(-keys, size - 1)[:size]
    return train[np.sort(chosen)]


def sparse_product(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``a @ x`` for a sparse CSR ``a`` [n, m] and a dense ``x`` [m, d], without autograd.

    On the CPU the product is written into a fresh buffer with ``beta = 0``: ``torch.sparse.mm`` zero-fills its
    output and then copies it once more, which is half the time of the product on graphs of this size.
    """
    if a.device.type != "cpu":
        return torch.sparse.mm(a, x)
    out = torch.empty(a.shape[0], x.shape[1], dtype=x.dtype)
    return torch.addmm(out, a, x.contiguous(), beta=0, out=out)


def _layer_mean(a: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    if n_layers == 0:
        return x.clone()
    layer = sparse_product(a, x)
    out = layer + x
    for _ in range(n_layers - 1):
        layer = sparse_product(a, layer)
        out.add_(layer)
    return out.div_(n_layers + 1)


class _SparseMatmul(torch.autograd.Function):
    """``A @ x`` whose backward uses a precomputed ``Aᵀ`` (torch would re-sort A's indices every call)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.a_t = a_t
        return sparse_product(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:  # type: ignore[override]
        return None, None, sparse_product(ctx.a_t, grad)


class _LayerMean(torch.autograd.Function):
    """``M x`` with ``M = (I + A + ... + A^L) / (L + 1)``; its backward is the same sum over ``Aᵀ`` (``Mᵀ g``), so
    neither pass keeps the intermediate layers or builds an autograd node per layer."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor,  # type: ignore[override]
                n_layers: int) -> torch.Tensor:
        ctx.a_t, ctx.n_layers = a_t, n_layers
        return _layer_mean(a, x, n_layers)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor, None]:  # type: ignore[override]
        return None, None, _layer_mean(ctx.a_t, grad, ctx.n_layers), None


class SparseOperator(torch.nn.Module):
    """A fixed sparse matrix that multiplies dense tensors, with a fast backward.

    ``symmetric=True`` skips storing the transpose (for ``D^-1/2 A D^-1/2`` of an undirected graph).
    """

    def __init__(self, matrix: sp.spmatrix, symmetric: bool = False) -> None:
        super().__init__()
        self.symmetric = symmetric
        self.register_buffer("a", to_torch_csr(matrix), persistent=False)
        self.register_buffer("a_t", self.a if symmetric else to_torch_csr(sp.csr_matrix(matrix).T), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.requires_grad:
            return sparse_product(self.a, x)
        return _SparseMatmul.apply(self.a, self.a_t, x)

    def layer_mean(self, x: torch.Tensor, n_layers: int) -> torch.Tensor:
        """Mean of ``[x, A x, A^2 x, ..., A^L x]`` (LightGCN's layer combination), ``x`` [n, d] -> [n, d]."""
        if not x.requires_grad:
            return _layer_mean(self.a, x, n_layers)
        return _LayerMean.apply(self.a, self.a_t, x, n_layers)
