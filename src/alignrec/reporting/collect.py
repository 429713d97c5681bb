"""Gather what a report shows: one :class:`RunAnalysis` per run, confidence intervals and paired comparisons."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignrec.evaluation.significance import PairedComparison, bootstrap_mean_ci, compare_paired
from alignrec.runs.analysis import RunAnalysis, analyse_run

HEADLINE = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


@dataclass
class ReportData:
    runs: list[RunAnalysis]
    metrics: list[str]
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    comparisons: list[PairedComparison] = field(default_factory=list)
    baseline: str = ""
    notes: list[str] = field(default_factory=list)


def dataset_signature(run: RunAnalysis) -> tuple[Any, ...]:
    stats = run.dataset_card.get("stats", {})
    return tuple(stats.get(k) for k in ("name", "users", "items", "train", "valid", "test"))


def headline_metrics(runs: list[RunAnalysis]) -> list[str]:
    common = set.intersection(*(set(r.means) for r in runs)) if runs else set()
    return [m for m in HEADLINE if m in common] or sorted(common)[:4]


def collect(run_dirs: list[str | Path], n_boot: int = 2000, seed: int = 0) -> ReportData:
    """Analyse every run on its test split; compare each run with the first one on the same dataset."""
    runs = [analyse_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    for run in runs:  # pipeline runs all live in folders called "run": name them by model first
        if names.count(run.name) > 1:
            run.name = f"{run.config.get('model', '?')} ({run.name})"
    names = [r.name for r in runs]
    for i, run in enumerate(runs):
        if names.count(run.name) > 1:
            run.name = f"{run.name} ({i + 1})"
    data = ReportData(runs=runs, metrics=headline_metrics(runs))
    for run in runs:
        data.intervals[run.name] = {m: bootstrap_mean_ci(run.per_user[m], n_boot, seed=seed) for m in data.metrics}
    if not runs:
        return data
    base = runs[0]
    data.baseline = base.name
    for other in runs[1:]:
        if dataset_signature(other) != dataset_signature(base):
            data.notes.append(f"{other.name} is on a different dataset or split than {base.name}; not compared.")
            continue
        for m in data.metrics:
            cmp = compare_paired(m, base.per_user[m], base.users, other.per_user[m], other.users, n_boot, seed=seed)
            cmp.metric = f"{other.name} vs {base.name}: {m}"
            data.comparisons.append(cmp)
    return data
