"""``alignrec benchmark``: models x datasets x seeds, resumable, into a leaderboard.

Every run is a separate ``alignrec train`` process (so its peak memory is its own) writing a normal run directory
``OUT/runs/<dataset>/<model>/seed-<n>``; a finished run (``metrics.json`` present) is not run again. A model's
config is its tuned one when ``tuned/<dataset>/<model>/best_config.json`` exists (from ``alignrec tune``), else
the defaults, with the dataset's ``data`` and ``train`` sections and the seed applied. Each run reads its test
split once, after training. The leaderboard (``leaderboard.md``, ``.csv``, ``.json``) gives mean ± sample std and
the per-seed values of Recall/NDCG@10/20, best epochs, seconds per epoch and peak memory, and marks models whose
test Recall@20 over the seeds differs from the best model's by a Welch t-test at p < 0.05.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from alignrec.config import apply_overrides, build_dataclass, load_config_file
from alignrec.errors import ConfigError
from alignrec.io import read_json, write_json, write_text
from alignrec.models import model_class
from alignrec.runs.config import RunConfig
from alignrec.tables import table

METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


@dataclass
class BenchmarkDataset:
    """One dataset of a benchmark: a name, its ``data`` section, ``train`` overrides (e.g. ``min_epochs``) and,
    optionally, its own ``models`` list instead of the benchmark's."""

    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    models: list[str] | None = None

    def __post_init__(self) -> None:
        if not self.name or "path" not in self.data:
            raise ConfigError("each benchmark dataset needs a name and data.path")
        for name in self.models or []:
            model_class(name)


@dataclass
class BenchmarkConfig:
    """What to run: ``models`` x ``datasets`` x ``seeds``; ``tuned`` is a folder of ``alignrec tune`` outputs."""

    models: list[str] = field(default_factory=lambda: ["bpr", "lightgcn", "alignrec"])
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 999])
    datasets: list[BenchmarkDataset] = field(default_factory=list)
    tuned: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in self.models:
            model_class(name)
        if not self.datasets:
            raise ConfigError("a benchmark needs at least one dataset")

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> BenchmarkConfig:
        return build_dataclass(cls, apply_overrides(load_config_file(path), overrides or []), str(path))


def run_config(cfg: BenchmarkConfig, dataset: BenchmarkDataset, model: str, seed: int) -> RunConfig:
    tuned = Path(cfg.tuned) / dataset.name / model / "best_config.json" if cfg.tuned else None
    raw: dict[str, Any] = read_json(tuned) if tuned is not None and tuned.is_file() else {"model": model}
    raw["data"] = {**raw.get("data", {}), **dataset.data}
    raw["train"] = {**raw.get("train", {}), **dataset.train, "seed": seed}
    return RunConfig.from_dict(raw, f"benchmark {dataset.name}/{model}")


def run_one(config: RunConfig, run_dir: Path, threads: int | None) -> dict[str, Any]:
    """Train ``config`` in a child process; return its metrics and the child's own peak memory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir.parent / f"{run_dir.name}.config.json", config.to_dict())
    cmd = [sys.executable, "-m", "alignrec", "train", "--config", str(run_dir.parent / f"{run_dir.name}.config.json"),
           "--run-dir", str(run_dir), "--overwrite", "--no-progress", *(["--threads", str(threads)] if threads else [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{run_dir}: training failed: {err.strip()[-1500:]}")
    metrics = read_json(run_dir / "metrics.json")
    metrics["peak_rss_mb"] = usage.ru_maxrss / 1024
    write_json(run_dir / "benchmark.json", metrics)
    return metrics


def run_benchmark(cfg: BenchmarkConfig, out_dir: str | Path, log: Any = print,
                  finished_only: bool = False) -> list[dict[str, Any]]:
    """Run what is not finished yet (or, with ``finished_only``, skip it); write the leaderboard; return one row
    per finished run."""
    out = Path(out_dir)
    rows = []
    for dataset in cfg.datasets:
        for model in dataset.models or cfg.models:
            for seed in cfg.seeds:
                run_dir = out / "runs" / dataset.name / model / f"seed-{seed}"
                done = run_dir / "benchmark.json"
                if done.is_file():
                    metrics = read_json(done)
                elif finished_only:
                    log(f"{dataset.name} {model} seed {seed}: not finished, left out")
                    continue
                else:
                    metrics = run_one(run_config(cfg, dataset, model, seed), run_dir, cfg.threads)
                # the benchmark's names win over the run's own (its "dataset" is the folder's name)
                rows.append({**metrics, "dataset": dataset.name, "model": model, "seed": seed})
                log(f"{dataset.name} {model} seed {seed}: test recall@20 {metrics['test']['recall@20']:.4f} "
                    f"(best epoch {metrics['best_epoch']})")
    if not rows:
        raise ConfigError(f"no finished runs under {out / 'runs'} for this benchmark config")
    write_leaderboard(rows, out)
    return rows


def welch_p(a: list[float], b: list[float]) -> float:
    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return float("nan")
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def leaderboard(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (dataset, model): means, sample stds, per-seed values, and the test against the best."""
    entries = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        per_model = {m: [r for r in mine if r["model"] == m] for m in dict.fromkeys(r["model"] for r in mine)}
        scores = {m: [r["test"]["recall@20"] for r in rs] for m, rs in per_model.items()}
        best = max(scores, key=lambda m: np.mean(scores[m]))
        for model, rs in per_model.items():
            entry: dict[str, Any] = {"dataset": dataset, "model": model, "seeds": [r["seed"] for r in rs],
                                     "best_epochs": [r["best_epoch"] for r in rs]}
            for metric in METRICS:
                values = [r["test"][metric] for r in rs]
                entry[metric] = {"mean": float(np.mean(values)),
                                 "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, "values": values}
            entry["seconds_per_epoch"] = float(np.median([r["median_train_seconds_per_epoch"] for r in rs]))
            entry["peak_rss_mb"] = float(max(r.get("peak_rss_mb", 0.0) for r in rs))
            entry["p_vs_best"] = 1.0 if model == best else welch_p(scores[model], scores[best])
            entry["best"] = model == best
            entries.append(entry)
    return entries


def write_leaderboard(rows: list[dict[str, Any]], out: Path) -> None:
    entries = leaderboard(rows)
    write_json(out / "leaderboard.json", {"runs": rows, "leaderboard": entries})
    header = ["dataset", "model", *METRICS, "seeds", "best epochs", "s/epoch", "peak MB"]
    body = []
    for e in entries:
        mark = "" if e["best"] or not e["p_vs_best"] < 0.05 else " *"
        cells = [f"{e[m]['mean']:.4f} ± {e[m]['std']:.4f}" for m in METRICS]
        cells[1] = ("**" + cells[1] + "**") if e["best"] else cells[1] + mark
        body.append([e["dataset"], e["model"], *cells, str(len(e["seeds"])), ", ".join(map(str, e["best_epochs"])),
                     f"{e['seconds_per_epoch']:.3f}", f"{e['peak_rss_mb']:.0f}"])
    note = ("Test metrics at each run's best validation epoch; mean ± sample std over seeds. Bold: the best test "
            "Recall@20 per dataset; *: differs from it (Welch t-test over the seeds, p < 0.05).\n\n")
    write_text(out / "leaderboard.md", note + table(header, body))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["dataset", "model", "seed", *METRICS, "best_epoch", "s_per_epoch", "peak_rss_mb"])
    for r in rows:
        writer.writerow([r["dataset"], r["model"], r["seed"], *(r["test"][m] for m in METRICS), r["best_epoch"],
                         r["median_train_seconds_per_epoch"], r.get("peak_rss_mb", "")])
    write_text(out / "leaderboard.csv", buffer.getvalue())
