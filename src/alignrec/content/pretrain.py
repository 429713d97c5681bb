"""Stage-1 pre-training of :class:`MMEnc` on item content (AlignRec's inter-content alignment).

Liu et al., "AlignRec: Aligning and Training in Multimodal Recommendations", CIKM 2024 (arXiv 2403.12384).
Objectives per batch of items:

* cross-modal InfoNCE: the encoder's output from modality m alone and from modality n alone, for every pair
  (m, n) the item has, are a positive pair; the other items of the batch are negatives;
* masked-modality prediction: one present modality is dropped and its (normalised) input embedding is
  predicted from the pooled output of the others (cosine loss);
* reconstruction of every modality from the full view (``recon_weight``, 1.0; it keeps what each modality
  says in the unified feature, which the validation split showed to matter for recommendation);
* optional ``collaborative`` variant (off by default): items co-interacted by a user in the TRAINING split are
  positives for each other (InfoNCE on the full views).

Model selection (``select``): ``"valid"`` keeps the epoch with the best zero-shot Recall@20 on the VALIDATION
split; ``"loss"`` the lowest pre-training loss on a held-out 10% of the items (content only); ``"auto"`` (default)
is ``"valid"`` when a dataset is given, else ``"loss"``. The test split is never read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from alignrec.config import build_dataclass
from alignrec.content.mmenc import MMEnc
from alignrec.data.dataset import Dataset, l2_normalise
from alignrec.data.split import training_slice_mask
from alignrec.errors import ConfigError, DataError
from alignrec.evaluation.feature_metrics import zero_shot
from alignrec.models.losses import symmetric_info_nce
from alignrec.training.loop import LoopState, StopRule, optimise_batches, run_epochs


@dataclass
class PretrainConfig:
    """MMEnc size, objectives and optimisation; ``select`` is ``"auto"``, ``"valid"``, ``"train_slice"`` or ``"loss"``
    (content only). ``"train_slice"`` carves ``holdout`` of the training interactions (per user, seeded) as the
    selection split, and collaborative positives come from the rest: stage 1 then never reads the validation split
    that stage 2 tunes on."""

    width: int = 512
    out_dim: int = 256
    fusion: str = "mlp"
    layers: int = 1
    heads: int = 4
    dropout: float = 0.1
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    contrast_weight: float = 1.0
    mask_weight: float = 1.0
    recon_weight: float = 1.0
    collaborative: bool = False
    collab_weight: float = 1.0
    holdout: float = 0.1
    select: str = "auto"
    patience: int = 20
    seed: int = 2024

    def __post_init__(self) -> None:
        if self.fusion not in ("transformer", "mlp"):
            raise ConfigError(f"pretrain.fusion must be 'transformer' or 'mlp', got {self.fusion!r}")
        if self.select not in ("auto", "loss", "valid", "train_slice"):
            raise ConfigError(f"pretrain.select must be 'auto', 'loss', 'valid' or 'train_slice', got {self.select!r}")
        for name in ("width", "out_dim", "epochs", "batch_size", "patience", "layers", "heads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"pretrain.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.holdout < 0.5:
            raise ConfigError(f"pretrain.holdout must be in [0, 0.5), got {self.holdout}")

    @property
    def uses_interactions(self) -> bool:
        """Whether pre-training reads the dataset's splits (training pairs or validation selection)."""
        return self.collaborative or self.select != "loss"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PretrainConfig:
        return build_dataclass(cls, values, "pretrain")  # type: ignore[no-any-return]


@dataclass
class PretrainResult:
    unified: np.ndarray
    model: MMEnc
    best_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def check_modalities(features: dict[str, np.ndarray], n_items: int | None = None) -> list[str]:
    """Names in a fixed order; every matrix must be 2-D with the same number of rows (``n_items`` if given)."""
    if not features:
        raise DataError("pre-training needs at least one modality feature matrix")
    names = sorted(features)
    rows = n_items if n_items is not None else features[names[0]].shape[0]
    for name in names:
        m = features[name]
        if m.ndim != 2 or m.shape[0] != rows:
            raise DataError(f"modality {name!r} has shape {tuple(m.shape)}, expected [{rows}, d] "
                            f"(one row per item, in the dataset's item order)")
        if not np.isfinite(m).all():
            raise DataError(f"modality {name!r} contains NaN or inf")
    return names


def cooccurrence_sampler(train: np.ndarray, n_items: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(item -> users, user -> items) CSR matrices of the TRAINING pairs, for collaborative positives."""
    n_users = int(train[:, 0].max()) + 1 if len(train) else 0
    ui = sp.csr_matrix((np.ones(len(train), dtype=np.float32), (train[:, 0], train[:, 1])), shape=(n_users, n_items))
    return ui.T.tocsr(), ui


def sample_partners(items: np.ndarray, iu: sp.csr_matrix, ui: sp.csr_matrix,
                    rng: np.random.Generator) -> np.ndarray:
    """For each item, another item rated by one of its training users (-1 if it has no training user)."""
    out = np.full(len(items), -1, dtype=np.int64)
    deg = np.diff(iu.indptr)[items]
    has = np.flatnonzero(deg > 0)
    users = iu.indices[iu.indptr[items[has]] + (rng.random(len(has)) * deg[has]).astype(np.int64)]
    udeg = np.diff(ui.indptr)[users]
    out[has] = ui.indices[ui.indptr[users] + (rng.random(len(has)) * udeg).astype(np.int64)]
    return out


class _Objective:
    def __init__(self, model: MMEnc, xs: list[torch.Tensor], present: torch.Tensor, cfg: PretrainConfig,
                 collab: tuple[sp.csr_matrix, sp.csr_matrix] | None) -> None:
        self.model, self.xs, self.present, self.cfg, self.collab = model, xs, present, cfg, collab
        self.targets = [F.normalize(x, dim=1) for x in xs]

    def __call__(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        cfg, model = self.cfg, self.model
        t_idx = torch.from_numpy(idx)
        xs = [x[t_idx] for x in self.xs]
        present = self.present[t_idx]
        n_mod = len(xs)
        terms: dict[str, torch.Tensor] = {}
        zero = xs[0].sum() * 0.0
        # (a) cross-modal InfoNCE between single-modality views.
        contrast, pairs = zero, 0
        if n_mod > 1 and cfg.contrast_weight > 0:
            eye = torch.eye(n_mod, dtype=torch.bool)
            singles = [model(xs, eye[m].expand_as(present) & present) for m in range(n_mod)]
            for m in range(n_mod):
                for n in range(m + 1, n_mod):
                    both = present[:, m] & present[:, n]
                    if both.sum() > 1:
                        contrast = contrast + symmetric_info_nce(singles[m][both], singles[n][both], cfg.temperature)
                        pairs += 1
            contrast = contrast / max(pairs, 1)
        terms["contrast"] = contrast
        # (b) masked-modality prediction from the remaining modalities.
        masked = zero
        multi = present.sum(1) > 1
        if n_mod > 1 and cfg.mask_weight > 0 and multi.any():
            scores = torch.from_numpy(rng.random(present.shape)).float().masked_fill(~present, -1.0)
            drop = scores.argmax(1)
            view = present.clone()
            view[torch.arange(len(idx)), drop] = False
            pooled = model(xs, view)
            losses = []
            for m in range(n_mod):
                rows = multi & (drop == m)
                if rows.any():
                    pred = model.predict[m](pooled[rows])
                    losses.append((1 - F.cosine_similarity(pred, self.targets[m][t_idx][rows], dim=1)).sum())
            masked = torch.stack(losses).sum() / multi.sum()
        terms["masked"] = masked
        full = model(xs, present)
        recon = zero
        if cfg.recon_weight > 0:
            parts = [(1 - F.cosine_similarity(model.predict[m](full[present[:, m]]),
                                              self.targets[m][t_idx][present[:, m]], dim=1)).mean()
                     for m in range(n_mod) if present[:, m].any()]
            recon = torch.stack(parts).mean()
        terms["recon"] = recon
        collab = zero
        if self.collab is not None and cfg.collab_weight > 0:
            partner = sample_partners(idx, *self.collab, rng)
            ok = partner >= 0
            if ok.sum() > 1:
                p_idx = torch.from_numpy(partner[ok])
                other = model([x[p_idx] for x in self.xs], self.present[p_idx])
                collab = symmetric_info_nce(full[torch.from_numpy(ok)], other, cfg.temperature)
        terms["collab"] = collab
        terms["loss"] = (cfg.contrast_weight * contrast + cfg.mask_weight * masked + cfg.recon_weight * recon
                         + cfg.collab_weight * collab)
        return terms


def encode_all(model: MMEnc, xs: list[torch.Tensor], present: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Unified features of every item; items with no modality at all get a zero row (and are not encoded: on a
    filtered catalogue most rows are such, e.g. Book-Crossing 10-core encodes 13,670 of 341,761)."""
    model.eval()
    rows = torch.from_numpy(np.flatnonzero(present.any(1).numpy()))
    unified = np.zeros((len(present), model.out_dim), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            idx = rows[start:start + batch_size]
            unified[idx.numpy()] = model([x[idx] for x in xs], present[idx]).numpy()
    return unified


def pretrain(features: dict[str, np.ndarray], config: PretrainConfig | None = None, dataset: Dataset | None = None,
             progress: bool = True, selection: Dataset | None = None) -> PretrainResult:
    """Train MMEnc on ``features`` (name -> ``[n_items, d]``, zero row = missing) and return the unified features.

    ``dataset`` is needed for ``collaborative=True`` (training split only) and ``select="valid"``. ``selection``
    (default ``dataset``) is the item index the validation ranking uses: a copy without the items the data
    filters dropped (:func:`alignrec.data.dataset.without_unused_items`), so that selection ranks what training
    will rank, and does not spend its time on catalogue rows nobody interacted with.
    """
    cfg = config or PretrainConfig()
    if cfg.select == "auto":
        cfg = dataclasses.replace(cfg, select="valid" if dataset is not None else "loss")
    names = check_modalities(features, dataset.n_items if dataset is not None else None)
    if cfg.uses_interactions and dataset is None:
        raise ConfigError("pretrain: collaborative=True and select='valid' or 'train_slice' need the dataset")
    if cfg.select == "train_slice":
        assert dataset is not None
        dataset, selection = _with_training_slice(dataset, cfg), _with_training_slice(selection or dataset, cfg)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mats = [l2_normalise(np.asarray(features[n], dtype=np.float32)) for n in names]
    present = torch.from_numpy(np.stack([np.abs(m).sum(1) > 0 for m in mats], axis=1))
    xs = [torch.from_numpy(m) for m in mats]
    n_items = len(present)
    usable = np.flatnonzero(present.any(1).numpy())
    perm = rng.permutation(usable)
    n_hold = int(round(cfg.holdout * len(perm))) if cfg.select == "loss" else 0
    hold, fit = np.sort(perm[:n_hold]), perm[n_hold:]
    model = MMEnc([m.shape[1] for m in mats], cfg.width, cfg.out_dim, cfg.fusion, cfg.layers, cfg.heads, cfg.dropout)
    collab = cooccurrence_sampler(dataset.train, n_items) if cfg.collaborative and dataset is not None else None
    objective = _Objective(model, xs, present, cfg, collab)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best_state = {k: v.clone() for k, v in model.state_dict().items()}

    def train_epoch(epoch: int) -> dict[str, float]:
        model.train()
        order = rng.permutation(fit)
        batches = [order[start:start + cfg.batch_size] for start in range(0, len(order), cfg.batch_size)]
        return optimise_batches(batches, lambda idx: objective(idx, rng), optimizer, epoch, len)

    def select(epoch: int, row: dict[str, Any]) -> float:
        return _selection_score(model, objective, xs, present, hold, cfg, selection or dataset, row)

    def keep_best(state: LoopState, improved: bool) -> None:
        nonlocal best_state
        if improved:
            best_state = {k: v.clone() for k, v in model.state_dict().items()}

    state = run_epochs(LoopState(), StopRule(cfg.epochs, cfg.patience), train_epoch, select, keep_best,
                       "pretrain MMEnc", progress, "select")
    model.load_state_dict(best_state)
    unified = encode_all(model, xs, present)
    return PretrainResult(unified, model, state.best_epoch, state.history,
                          {**dataclasses.asdict(cfg), "modalities": names})


def _with_training_slice(dataset: Dataset, cfg: PretrainConfig) -> Dataset:
    """A copy of ``dataset`` whose validation split is a slice of its training split (and its test split empty)."""
    held = training_slice_mask(dataset.train[:, 0], cfg.holdout or 0.1, cfg.seed)
    return dataclasses.replace(dataset, train=dataset.train[~held], valid=dataset.train[held], test=dataset.test[:0])


def _selection_score(model: MMEnc, objective: _Objective, xs: list[torch.Tensor], present: torch.Tensor,
                     hold: np.ndarray, cfg: PretrainConfig, dataset: Dataset | None, row: dict[str, Any]) -> float:
    """Higher is better: minus the held-out loss, or zero-shot Recall@20 on the VALIDATION split."""
    model.eval()
    if cfg.select in ("valid", "train_slice") and dataset is not None:
        unified = encode_all(model, xs, present)
        if dataset.catalogue_rows is not None:
            unified = unified[dataset.catalogue_rows]
        metrics = zero_shot(unified, dataset, part="valid", ks=(20,))
        row["valid_recall@20"] = metrics["recall@20"]
        return float(metrics["recall@20"])
    if len(hold) < 2:
        return -float(row["loss"])
    with torch.no_grad():
        terms = objective(hold, np.random.default_rng(cfg.seed + 1))
    row["holdout_loss"] = float(terms["loss"])
    return -float(terms["loss"])
