"""Forgetting on request: a new run directory whose model no longer holds some interactions, users or items.

``reverse-bpr`` starts from the trained run and unlearns by gradient (MMRecUn; Sinha, Mandal, Kankanhalli,
arXiv 2405.15328, 2024; see :mod:`alignrec.training.unlearning`); ``retrain`` trains the same config from
scratch on what is retained (the "gold" model). The original run directory is only read. The new one is built in
a hidden folder beside ``out`` and renamed into place at the end, so an interrupted request leaves no
half-written run. It holds the usual run files, ``removal.npz`` (the removed indices; its ``config.json`` points
``data.removal`` at it, so every later load of the run honours the removal) and ``forget_report.json`` / ``.md``.

When reverse BPR stops: after each epoch it compares the forget set with data the model never saw, as the model
scores both now. Removed interactions: stop when their Recall@20 (the users' retained training items excluded) is
no higher than the validation split's (real interactions the model never trained on). Removed users or items:
stop when their mean score percentile in the users' rankings is no higher than that of never-seen items of the
same users (a model that never saw them cannot tell the two apart). ``max_epochs`` caps it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alignrec.config import RuntimeOptions
from alignrec.data import Dataset, load_dataset
from alignrec.data.removal import Removal, ids_digest
from alignrec.errors import ConfigError, DataError, RunDirError
from alignrec.evaluation import evaluate_split
from alignrec.io import write_json, write_text
from alignrec.models import build_model
from alignrec.runs import rundir
from alignrec.runs.config import RunConfig
from alignrec.runs.export import export_after_training
from alignrec.runs.forget_check import check, forget_pairs, forgotten_enough, reference_pairs, report_markdown
from alignrec.runs.load import LoadedRun, load_run
from alignrec.runs.train import train
from alignrec.training.unlearning import UnlearnConfig, reverse_bpr

METHODS = ("reverse-bpr", "retrain")
REMOVAL, REPORT = "removal.npz", "forget_report"


@dataclass
class ForgetRequest:
    """Raw IDs as in the data files: exactly one of ``interactions`` (user, item pairs), ``users`` or ``items``."""

    interactions: list[tuple[str, str]] | None = None
    users: list[str] | None = None
    items: list[str] | None = None

    @property
    def kind(self) -> str:
        given = [k for k in ("interactions", "users", "items") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError("give exactly one of interactions, users or items to forget")
        if not getattr(self, given[0]):
            raise ConfigError(f"the request to forget {given[0]} is empty")
        return given[0]

    def digest(self) -> str:
        values = getattr(self, self.kind)
        return ids_digest([f"{u}\t{i}" for u, i in values] if self.kind == "interactions" else values)


def to_removal(request: ForgetRequest, dataset: Dataset) -> Removal:
    """Dataset indices of the request; unknown IDs, and pairs that are not training interactions, are errors."""
    kind = request.kind
    user_index = {str(u): n for n, u in enumerate(dataset.user_ids)}
    item_index = {str(i): n for n, i in enumerate(dataset.item_ids)}

    def indices(values: list[str], index: dict[str, int], what: str) -> np.ndarray:
        unknown = sorted({v for v in map(str, values) if v not in index})
        if unknown:
            raise DataError(f"{len(unknown)} unknown {what} id(s) in the request, e.g. {unknown[:5]}")
        return np.array([index[str(v)] for v in values], dtype=np.int64)

    if kind == "users":
        return Removal(users=indices(request.users or [], user_index, "user"))
    if kind == "items":
        return Removal(items=indices(request.items or [], item_index, "item"))
    pairs = request.interactions or []
    found = np.stack([indices([u for u, _ in pairs], user_index, "user"),
                      indices([i for _, i in pairs], item_index, "item")], axis=1)
    train_keys = set((dataset.train[:, 0] * dataset.n_items + dataset.train[:, 1]).tolist())
    missing = [pairs[n] for n, key in enumerate((found[:, 0] * dataset.n_items + found[:, 1]).tolist())
               if key not in train_keys]
    if missing:
        raise DataError(f"{len(missing)} requested pair(s) are not training interactions of the run, e.g. "
                        f"{missing[:3]}")
    return Removal(pairs=found)


def forget(run_dir: str | Path, out: str | Path, request: ForgetRequest, method: str = "reverse-bpr",
           unlearn: UnlearnConfig | None = None, runtime: RuntimeOptions | None = None,
           retrain_seed: int | None = None) -> dict[str, Any]:
    """Make ``out``, a run of ``run_dir``'s model without what ``request`` names; return the forget report.

    ``retrain_seed`` trains the gold model with another seed than the original's (for a seed spread)."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    runtime = runtime or RuntimeOptions()
    run_dir, out = Path(run_dir), Path(out)
    if out.exists():
        raise RunDirError(f"{out}: already exists; forget writes a new run directory")
    if out.resolve() == run_dir.resolve():
        raise RunDirError("the new run directory must differ from the original (which is never modified)")
    original = load_run(run_dir)
    removal = to_removal(request, original.dataset)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        removal.save(partial / REMOVAL)
        working = dataclasses.replace(original.config, data=dataclasses.replace(
            original.config.data, removal=str(partial / REMOVAL)))
        if retrain_seed is not None and method == "retrain":
            working = dataclasses.replace(working, train=dataclasses.replace(working.train, seed=retrain_seed))
        retained = load_dataset(working.data)  # fails here, before any work, on a user left without data
        t0 = time.perf_counter()
        if method == "retrain":
            train(working, run_dir=partial, dataset=retained, overwrite=True, runtime=runtime)  # keeps removal.npz
            history: list[dict[str, Any]] = []
        else:
            history = _reverse_bpr(original, working, retained, removal,
                                   unlearn or UnlearnConfig(seed=original.config.train.seed), runtime, partial)
        seconds = time.perf_counter() - t0
        write_json(partial / rundir.CONFIG, working.to_dict())
        verification = check(load_run(partial), original.dataset, removal)
        final = dataclasses.replace(working, data=dataclasses.replace(working.data, removal=str(out.resolve() /
                                                                                               REMOVAL)))
        write_json(partial / rundir.CONFIG, final.to_dict())  # where removal.npz will be once the folder is renamed
        report = {"method": method, "request": request.kind, "request_sha256": request.digest(),
                  "removed": {"pairs": len(removal.pairs), "users": len(removal.users), "items": len(removal.items),
                              "training_interactions": len(forget_pairs(original.dataset, removal))},
                  "original_run": str(run_dir.resolve()), "seconds": seconds, "unlearning_epochs": len(history),
                  "verification": verification}
        write_json(partial / f"{REPORT}.json", report)
        write_text(partial / f"{REPORT}.md", report_markdown(report))
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return report


def _reverse_bpr(original: LoadedRun, working: RunConfig, retained: Dataset, removal: Removal, cfg: UnlearnConfig,
                 runtime: RuntimeOptions, run_path: Path) -> list[dict[str, Any]]:
    """Unlearn from the original weights, rebuilt on the retained data (graphs and content without what is
    removed); write the run files of the result."""
    forget = forget_pairs(original.dataset, removal)
    model = build_model(working.model, retained, working.params)
    model.load_state_dict(original.model.state_dict())
    reference = reference_pairs(retained, original.dataset, forget, removal)
    by_recall = bool(len(removal.pairs))

    def done(epoch: int) -> tuple[bool, dict[str, Any]]:
        return forgotten_enough(model, retained, forget, reference, by_recall)

    history = reverse_bpr(model, retained, forget, cfg, done, runtime)
    rundir.save_torch(run_path / rundir.BEST, {"epoch": original.best_epoch, "model": model.state_dict()})
    rundir.write_history(run_path, history)
    write_json(run_path / rundir.DATASET, {"stats": retained.stats(), "report": retained.report})
    ks = working.topk
    write_json(run_path / rundir.METRICS, {
        "model": working.model, "dataset": retained.name, "best_epoch": original.best_epoch,
        "epochs_run": len(history), "valid": evaluate_split(model.score, retained, "valid", ks).means,
        "test": evaluate_split(model.score, retained, "test", ks).means, "unlearned_by": "reverse-bpr",
    })
    export_after_training(LoadedRun(working, retained, model, original.best_epoch), run_path)  # for alignrec serve
    return history
