"""Loss terms as pure functions of embeddings, so each can be tested alone."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """``-mean log sigmoid(pos - neg)`` (Rendle et al., UAI 2009)."""
    return -nn.functional.logsigmoid(pos_scores - neg_scores).mean()


def in_batch_softmax_loss(users: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor,
                          temperature: float = 1.0) -> torch.Tensor:
    """Sampled softmax over a shared candidate set: ``-mean log softmax(users @ candidatesᵀ / temperature)[b, t_b]``.

    ``users`` [B, d] are the batch's user vectors, ``candidates`` [C, d] the vectors of the batch's *distinct* items
    (its positives and sampled negatives), ``targets`` [B] the index in ``candidates`` of each row's positive. Each
    user's positive competes with every other candidate, a cheap stand-in for the full softmax over all items
    (the sampled softmax of Bengio and Senécal, 2008; in-batch negatives as in Yi et al., "Sampling-Bias-Corrected
    Neural Modeling for Large Corpus Item Recommendations", RecSys 2019). Distinct candidates keep a popular item
    from competing against itself."""
    logits = users @ candidates.T
    if temperature != 1.0:
        logits = logits / temperature
    return nn.functional.cross_entropy(logits, targets)


def reverse_bpr_loss(forget_scores: torch.Tensor, negative_scores: torch.Tensor) -> torch.Tensor:
    """``-mean log sigmoid(neg - forget)``: BPR with the roles swapped, so a pair to forget is pushed below a
    random negative item (MMRecUn's reverse BPR; Sinha, Mandal, Kankanhalli, "Multi-Modal Recommendation
    Unlearning for Legal, Licensing, and Modality Constraints", arXiv 2405.15328, 2024)."""
    return bpr_loss(negative_scores, forget_scores)


def l2_reg(*embeddings: torch.Tensor) -> torch.Tensor:
    """``1/2 * sum of squared norms / batch size``."""
    batch = embeddings[0].shape[0]
    return 0.5 * sum(e.pow(2).sum() for e in embeddings) / batch


def l2_reg_of_rows(table: torch.Tensor, rows: torch.Tensor, batch: int) -> torch.Tensor:
    """``1/2 * sum of the squared norms of table[rows] / batch`` (:func:`l2_reg` of the gathered rows, ``table``
    [n, d], ``rows`` [m] with repeats), summed over the table weighted by each row's count: no gather whose
    backward scatters."""
    counts = torch.bincount(rows, minlength=table.shape[0]).to(table.dtype)
    return 0.5 * (counts @ table.pow(2).sum(1)) / batch


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, temperature: float, bf16: bool = False) -> torch.Tensor:
    """One-directional InfoNCE (van den Oord, Li, Vinyals, "Representation Learning with Contrastive Predictive
    Coding", 2018): row ``i`` of ``anchor`` [B, d] should pick row ``i`` of ``positive`` among all B rows, by
    cosine similarity over ``temperature``. AlignRec's content-ID alignment uses this direction only.

    ``bf16`` computes the ``B x B`` similarity product (forward and backward) in bfloat16 and the softmax in
    float32: on a CPU with bf16 instructions one call (B 2048, d 64, forward and backward) took 19 ms instead of
    31 ms; the logits are off by about 1e-2 / temperature."""
    a = nn.functional.normalize(anchor, dim=1) / temperature  # scale B x d rows, not the B x B logits
    p = nn.functional.normalize(positive, dim=1)
    logits = (a.bfloat16() @ p.bfloat16().T).float() if bf16 else a @ p.T
    return nn.functional.cross_entropy(logits, torch.arange(len(a), device=a.device))


def info_nce_by_id(anchors: torch.Tensor, positives: torch.Tensor, ids: torch.Tensor, temperature: float,
                   bf16: bool = False) -> torch.Tensor:
    """``info_nce(anchors[ids], positives[ids])`` computed over the distinct ``ids`` only (same value and gradients);
    see :func:`counted_info_nce`."""
    distinct, counts = torch.unique(ids, return_counts=True)
    return counted_info_nce(anchors.index_select(0, distinct), positives.index_select(0, distinct), counts, temperature,
                            bf16)


def counted_info_nce(anchor: torch.Tensor, positive: torch.Tensor, counts: torch.Tensor, temperature: float,
                     bf16: bool = False) -> torch.Tensor:
    """:func:`info_nce` of a batch in which distinct row ``r`` of ``anchor``/``positive`` [U, d] stands for
    ``counts[r]`` identical rows (a batch of ``counts.sum()`` rows).

    A batch repeats popular items and active users: as a column a distinct row enters the softmax ``c`` times (a
    ``log c`` added to its logit) and as a row its loss counts ``c`` times. The ``B x B`` similarity block becomes
    ``U x U`` (on amazon-scientific, batch 2048: about 1,000 distinct items and 1,450 users), held once
    (:class:`_CountedInfoNCE`)."""
    a = nn.functional.normalize(anchor, dim=1) / temperature
    p = nn.functional.normalize(positive, dim=1)
    return _CountedInfoNCE.apply(a, p, counts.to(a.dtype), bf16, 1.0 / temperature)


SAFE_EXP_RANGE = 80.0  # exp(-80) is still a normal float32


class _CountedInfoNCE(torch.autograd.Function):
    """``(1/B) Σ_r c_r (log Σ_s c_s exp(a_r·p_s) − a_r·p_r)`` with one ``U x U`` buffer and four passes over it in
    the forward pass (the product, the column bias, ``exp`` in place, the row sums), two in the backward pass.

    The softmax is shifted by ``bound`` (every ``a_r·p_s ≤ bound``, here ``1/temperature`` for unit rows), not by
    each row's maximum, so no pass finds the maxima; a row's sum is at least ``exp(-2 bound)``, which stays a normal
    float for ``2 bound ≤ 80``. Beyond that (temperature under 0.025) the row maxima are used. The buffer keeps
    the unnormalised ``exp``; the backward pass folds each row's ``1/sum`` and weight into its small ``U x d``
    operands instead of rescaling the buffer."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, p: torch.Tensor, counts: torch.Tensor, bf16: bool,
                bound: float) -> torch.Tensor:
        fixed = 2 * bound <= SAFE_EXP_RANGE
        bias = counts.log() - bound if fixed else counts.log()  # column s stands for its c_s copies
        logits = (a.bfloat16() @ p.bfloat16().T).float() if bf16 else a @ p.T
        logits += bias
        shift: float | torch.Tensor = bound
        if not fixed:
            shift = logits.amax(1, keepdim=True)
            logits.sub_(shift)
        exp = logits.exp_()
        total = exp.sum(1, keepdim=True)
        log_sum = (total.log() + shift).squeeze(1)
        own = (a * p).sum(1)
        ctx.save_for_backward(a, p, counts, exp, total)
        ctx.bf16 = bf16
        return (counts * (log_sum - own)).sum() / counts.sum()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, p, counts, exp, total = ctx.saved_tensors
        weight = (counts * (grad / counts.sum()))[:, None]  # d loss / d logits = weight * (softmax - I)
        row_scale = weight / total
        if ctx.bf16:
            exp16 = exp.bfloat16()
            grad_a = (exp16 @ p.bfloat16()).float()
            grad_p = (exp16.T @ (row_scale * a).bfloat16()).float()
        else:
            grad_a = exp @ p
            grad_p = exp.T @ (row_scale * a)
        grad_a.mul_(row_scale).sub_(weight * p)
        grad_p.sub_(weight * a)
        return grad_a, grad_p, None, None, None


def symmetric_info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE in both directions, averaged: ``a`` picks its row of ``b`` and ``b`` its row of ``a`` (as in CLIP,
    Radford et al., ICML 2021). 0 for fewer than two rows (no negatives)."""
    if len(a) < 2:
        return a.sum() * 0.0
    logits = nn.functional.normalize(a, dim=1) @ nn.functional.normalize(b, dim=1).T / temperature
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target))


def similarity_gap(h: torch.Tensor, f0: torch.Tensor, f0_gram_sq_norm: torch.Tensor | None = None,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """``‖H Hᵀ − F0 F0ᵀ‖_F`` without forming the ``B x B`` matrices.

    Uses ``‖HHᵀ − GGᵀ‖² = ‖HᵀH‖² − 2‖GᵀH‖² + ‖GᵀG‖²`` (with ``G = F0``), which costs
    ``B·d·(d_h + d_f)`` instead of ``B²·(d_h + d_f)``. ``weights`` [B] (optional) lets row ``r`` of ``h`` and
    ``f0`` stand for ``weights[r]`` identical rows: the products become ``HᵀWH`` and ``GᵀWH``, with only the narrow
    ``h`` scaled. ``f0_gram_sq_norm`` may pass ``‖F0 F0ᵀ‖²`` (of the repeated rows) when the caller has it cheaper (it
    carries no gradient; ``f0`` itself may, when the target is trained). Rows of ``f0`` should be L2-normalised so
    that ``F0 F0ᵀ`` is the cosine similarity.
    """
    weighted = h if weights is None else h * weights[:, None]
    if f0_gram_sq_norm is None:  # with gradients only when the target itself is trained
        with torch.set_grad_enabled(f0.requires_grad and torch.is_grad_enabled()):
            g = f0 if weights is None else f0 * weights.sqrt()[:, None]
            small = g.T @ g if g.shape[1] < g.shape[0] else g @ g.T
            f0_gram_sq_norm = small.double().pow(2).sum()
    # The products are small (d x d_h); the squared norms are summed in float64 because they nearly cancel.
    squared = ((h.T @ weighted).double().pow(2).sum() - 2 * (f0.T @ weighted).double().pow(2).sum()
               + f0_gram_sq_norm.double())
    return squared.clamp_min(1e-12).sqrt().to(h.dtype)


def alignment_loss(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """``mean ‖x_b − y_b‖^alpha`` over rows: how close positive pairs sit (Wang and Isola, "Understanding
    Contrastive Representation Learning through Alignment and Uniformity on the Hypersphere", ICML 2020)."""
    return (x - y).norm(dim=1).pow(alpha).mean()


def uniformity_loss(x: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """``log mean exp(−t ‖x_i − x_j‖²)`` over the pairs ``i < j`` of rows: how evenly rows spread (Wang and
    Isola, ICML 2020)."""
    return torch.pdist(x).pow(2).mul(-t).exp().mean().log()


def calibrated_uniformity_loss(x: torch.Tensor, similarity: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """CM3's calibrated uniformity: :func:`uniformity_loss` with each pair's squared distance reduced by
    ``2 − 2 s_ij`` (``similarity`` holds ``s_ij`` for the pairs ``i < j`` in ``torch.pdist`` order), so items whose
    content is alike are pushed apart less ("CM3: Calibrating Multimodal Recommendation", 2025)."""
    return (torch.pdist(x).pow(2) - 2 + 2 * similarity).mul(-t).exp().mean().log()


def pair_similarities(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Cosine similarity of the row pairs ``i < j`` in ``torch.pdist`` order, clamped to ``[low, high]``."""
    unit = nn.functional.normalize(x, dim=1)
    rows, cols = torch.triu_indices(len(x), len(x), offset=1, device=x.device)
    return (unit @ unit.T)[rows, cols].clamp(low, high)  # a B x B matrix, not B² gathered row pairs


def node_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float, chunk: int = 256) -> torch.Tensor:
    """Node-level InfoNCE between two views of the same nodes (GRACE; Zhu et al., "Deep Graph Contrastive
    Representation Learning", 2020): row ``i`` of ``z1`` should pick row ``i`` of ``z2`` against every other row of
    both views (cosine similarity over ``temperature``).

    Rows go in chunks whose ``chunk x n`` similarities the backward pass recomputes instead of keeping, so memory
    stays ``chunk x n`` in training too (kept, the chunks add up to ``n x n``; for 8,000 nodes half the time went
    to the kernel mapping fresh pages for them)."""
    a, b = nn.functional.normalize(z1, dim=1), nn.functional.normalize(z2, dim=1)
    total = sum(checkpoint(_node_contrast_rows, a, b, start, min(start + chunk, len(a)), temperature,
                           use_reentrant=False) for start in range(0, len(a), chunk))
    return total / len(a)


def _node_contrast_rows(a: torch.Tensor, b: torch.Tensor, start: int, stop: int, temperature: float) -> torch.Tensor:
    """The summed loss of rows ``start:stop`` (see :func:`node_contrastive_loss`)."""
    rows = a[start:stop]
    own = torch.exp(rows @ a.T / temperature)
    other = torch.exp(rows @ b.T / temperature)
    local = torch.arange(stop - start, device=a.device)
    positive, self_term = other[local, local + start], own[local, local + start]
    return -torch.log(positive / (own.sum(1) + other.sum(1) - self_term)).sum()


def orthogonality_loss(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``‖Âᵀ B̂‖²_F / d²`` with ``Â``, ``B̂`` the ``[B, d]`` batches centred per column, then each row divided by its
    norm (the norm held constant for the gradient): 0 when the two views' dimensions are uncorrelated over the
    batch (REARM's orthogonal constraint between two modalities; "Refining Contrastive Learning and Homography
    Relations for Multi-Modal Recommendation", 2025)."""

    def standardise(x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(0, keepdim=True)
        return x / (x.norm(dim=1, keepdim=True).detach() + eps)

    cross = standardise(a).T @ standardise(b)
    return cross.pow(2).sum() / (a.shape[1] * b.shape[1])
