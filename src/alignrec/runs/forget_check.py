"""Verification of forgetting: does the model still recommend what it was asked to forget, and can its scores
tell forgotten pairs from pairs it never saw?

Numbers, for a run made by ``alignrec forget`` (or any run, against a removal):

* forget-set Recall@20 / NDCG@20: the forgotten training pairs as the truth, ranked by the model's raw scores
  (removed items are not masked here: the question is what the model itself still holds), the user's retained
  training items excluded;
* retain-set Recall@20: the retained training pairs as the truth, nothing excluded (how well the model still fits
  what it keeps);
* test Recall@20 / NDCG@20: the usual evaluation of the run's test split (removed items never ranked);
* membership-inference AUC (:mod:`alignrec.evaluation.membership`): forgotten pairs against never-seen pairs of
  the same users; 0.5 is the goal, and the gold (retrained) model is the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from alignrec.data import Dataset
from alignrec.data.removal import Removal, keep_mask
from alignrec.evaluation import evaluate_split, rank_and_evaluate
from alignrec.evaluation.membership import auc, never_seen_items, score_percentiles
from alignrec.models import Recommender
from alignrec.runs.load import LoadedRun
from alignrec.tables import fmt, table

K = 20


def forget_pairs(original: Dataset, removal: Removal) -> np.ndarray:
    """The training pairs a removal takes away: its pairs, and every training pair of its users and items."""
    return original.train[~keep_mask(original.train, removal, original.n_items, drop_pairs=True)]


def _pair_matrix(pairs: np.ndarray, dataset: Dataset) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])),
                         shape=(dataset.n_users, dataset.n_items))


def forget_metrics(model: Recommender, retained: Dataset, forget: np.ndarray) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        return rank_and_evaluate(model.score, _pair_matrix(forget, retained), retained.matrix("train"), [K]).means


def mean_percentile(model: Recommender, pairs: np.ndarray, batch: int = 1024) -> float:
    """Mean, over ``pairs``, of the item's score percentile in its user's ranking of all items (raw scores)."""
    if not len(pairs):
        return float("nan")
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch):
            chunk = pairs[start:start + batch]
            out.append(score_percentiles(model.score(torch.from_numpy(chunk[:, 0])).float().cpu().numpy(), chunk[:, 1]))
    return float(np.concatenate(out).mean())


def reference_pairs(retained: Dataset, original: Dataset, forget: np.ndarray, removal: Removal,
                    seed: int = 1) -> np.ndarray:
    """Pairs the model never trained on, to compare the forget set with: for removed interactions the validation
    pairs (real interactions, held out); for removed users or items, never-seen items of the same users (what a
    model that never saw them could not tell apart)."""
    if len(removal.pairs):
        return retained.valid
    known = np.concatenate([original.train, original.valid, original.test])
    items = never_seen_items(forget[:, 0], known, original.n_items, removal.items, np.random.default_rng(seed))
    return np.stack([forget[:, 0], items], axis=1)


def forgotten_enough(model: Recommender, retained: Dataset, forget: np.ndarray, reference: np.ndarray,
                     by_recall: bool) -> tuple[bool, dict[str, float]]:
    """Whether the model ranks the forget set no higher than the reference pairs, as it scores them now: by
    Recall@20 (removed interactions against the validation split) or by mean score percentile (removed users or
    items against never-seen items)."""
    if by_recall:
        level = float(forget_metrics(model, retained, forget).get(f"recall@{K}", 0.0))
        target = float(evaluate_split(model.score, retained, "valid", [K]).means.get(f"recall@{K}", 0.0))
        return level <= target, {f"forget_recall@{K}": level, f"valid_recall@{K}": target}
    level, target = mean_percentile(model, forget), mean_percentile(model, reference)
    return level <= target, {"forget_percentile": level, "never_seen_percentile": target}


def membership_auc(model: Recommender, original: Dataset, forget: np.ndarray, removal: Removal,
                   seed: int = 0) -> float:
    """AUC of the percentile attack: forgotten pairs against never-seen pairs (same users, items that are not
    removed and that the user never interacted with in any split)."""
    known = np.concatenate([original.train, original.valid, original.test])
    negatives = never_seen_items(forget[:, 0], known, original.n_items, removal.items, np.random.default_rng(seed))
    model.eval()
    members, non_members = [], []
    with torch.no_grad():
        for start in range(0, len(forget), 1024):
            users = torch.from_numpy(forget[start:start + 1024, 0])
            scores = model.score(users).float().cpu().numpy()
            members.append(score_percentiles(scores, forget[start:start + 1024, 1]))
            non_members.append(score_percentiles(scores, negatives[start:start + 1024]))
    return auc(np.concatenate(members), np.concatenate(non_members))


def check(run: LoadedRun, original: Dataset, removal: Removal) -> dict[str, float]:
    """Every verification number of ``run`` (built on the retained data) for ``removal`` of ``original``."""
    retained, model = run.dataset, run.model
    forget = forget_pairs(original, removal)
    forgotten = forget_metrics(model, retained, forget)
    nothing = _pair_matrix(np.zeros((0, 2), np.int64), retained)
    with torch.no_grad():
        kept = rank_and_evaluate(model.score, retained.matrix("train"), nothing, [K]).means
    test = evaluate_split(model.score, retained, "test", [K]).means
    return {f"forget_recall@{K}": forgotten.get(f"recall@{K}", 0.0),
            f"forget_ndcg@{K}": forgotten.get(f"ndcg@{K}", 0.0),
            f"retain_recall@{K}": kept.get(f"recall@{K}", 0.0), f"test_recall@{K}": test.get(f"recall@{K}", 0.0),
            f"test_ndcg@{K}": test.get(f"ndcg@{K}", 0.0),
            "membership_auc": membership_auc(model, original, forget, removal)}


def report_markdown(report: dict[str, Any], others: dict[str, dict[str, float]] | None = None) -> str:
    """The forget report as Markdown; ``others`` adds columns (e.g. the original and the gold model)."""
    removed = ", ".join(f"{v} {k}" for k, v in report["removed"].items() if v)
    columns = {"this run": report["verification"], **(others or {})}
    metrics = list(report["verification"])
    rows = [[m, *(fmt(c.get(m)) for c in columns.values())] for m in metrics]
    return (f"# Forget report\n\nMethod `{report['method']}`, request of {report['request']} "
            f"(sha256 of the sorted ids {report['request_sha256'][:16]}...): removed {removed}; "
            f"{report['seconds']:.1f} s ({report['unlearning_epochs']} unlearning epochs).\n\n"
            + table(["metric", *columns], rows))
