"""Markdown renderings: the report summary, the intermediate-metrics table, and shared table helpers."""

from __future__ import annotations

from typing import Any

from alignrec.evaluation.feature_metrics import relative_change
from alignrec.reporting.collect import ReportData
from alignrec.tables import fmt, table


def fmt_p(p: float) -> str:
    return "<1e-4" if p < 1e-4 else f"{p:.4f}"


def results_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for run in data.runs:
        cells = [f"{fmt(run.means[m])} [{fmt(data.intervals[run.name][m][0])}, {fmt(data.intervals[run.name][m][1])}]"
                 for m in data.metrics]
        rows.append([run.name, run.config.get("model", ""), str(run.best_epoch), *cells])
    return rows


def comparison_rows(data: ReportData) -> list[list[str]]:
    return [[c.metric, str(c.users), fmt(c.mean_diff), f"[{fmt(c.ci_low)}, {fmt(c.ci_high)}]",
             fmt_p(c.t_pvalue), fmt_p(c.wilcoxon_pvalue)] for c in data.comparisons]


def slice_rows(per_run: dict[str, dict[str, dict[str, float]]], metric: str) -> tuple[list[str], list[list[str]]]:
    groups: list[str] = []
    for per_group in per_run.values():
        groups += [g for g in per_group if g not in groups]
    header = ["run", *[f"{g} {metric}" for g in groups]]
    rows = [[name, *[fmt(per_group.get(g, {}).get(metric)) + f" (n={int(per_group.get(g, {}).get('users', 0))})"
                     for g in groups]] for name, per_group in per_run.items()]
    return header, rows


def beyond_rows(data: ReportData, k: int) -> tuple[list[str], list[list[str]]]:
    names = ["coverage", "gini", "avg_popularity", "long_tail"]
    header = ["run", *[f"{n}@{k}" for n in names]]
    return header, [[r.name, *[fmt(r.beyond.get(f"{n}@{k}"), 3) for n in names]] for r in data.runs]


def cold_rows(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Recall and NDCG of the runs that rank cold-start items (others are left out)."""
    cold = [r for r in data.runs if r.cold_start]
    names = [m for m in cold[0].cold_start if m.split("@")[0] in ("recall", "ndcg")] if cold else []
    return ["run", "users", "cold items", *names], [
        [r.name, str(r.cold_users), str(r.cold_candidates), *[fmt(r.cold_start.get(m)) for m in names]] for r in cold]


def slice_metric(data: ReportData) -> str:
    return "recall@20" if "recall@20" in data.metrics else data.metrics[0]


def summary(data: ReportData) -> str:
    """The Markdown summary of a report: results with CIs, comparisons, beyond accuracy, slices, cold start."""
    metric = slice_metric(data)
    k = int(metric.split("@")[1])
    parts = ["# alignrec report\n", "## Test results (mean [95% bootstrap CI over users])\n",
             table(["run", "model", "best epoch", *data.metrics], results_rows(data))]
    if data.comparisons:
        parts += ["\n## Paired comparisons (difference = run − baseline)\n",
                  table(["comparison", "users", "diff", "95% CI", "t-test p", "Wilcoxon p"], comparison_rows(data))]
    parts += [f"\n## Beyond accuracy (@{k})\n", table(*beyond_rows(data, k))]
    parts += ["\n## By user activity (training interactions)\n",
              table(*slice_rows({r.name: r.activity for r in data.runs}, metric))]
    parts += ["\n## By popularity of the test item\n",
              table(*slice_rows({r.name: r.popularity for r in data.runs}, metric))]
    if any(r.cold_start for r in data.runs):
        parts += ["\n## Cold-start items (ranked among items without training interactions)\n",
                  table(*cold_rows(data))]
    parts += [f"\n_{note}_\n" for note in data.notes]
    return "".join(parts)


def feature_metrics_table(result: dict[str, Any], metrics: list[str] | None = None) -> str:
    """One Markdown table of :func:`alignrec.evaluation.feature_table.evaluate_features` output (plus run rows).

    Masked cells show the value and its relative change against the full features.
    """
    ks = result["ks"]
    metrics = metrics or [f"{m}@{k}" for k in ks[-1:] for m in ("recall", "ndcg")]
    mods = list(result["masked_items"])
    pct = int(round(100 * result["mask_fraction"]))
    header = ["input", "method", *metrics, *[f"mask {m} {pct}%: {metrics[0]} (Δ)" for m in mods]]
    rows = []
    for row in result["rows"]:
        full = row["full"]
        cells = [row["input"], row["method"], *[fmt(full.get(m)) for m in metrics]]
        for mod in mods:
            masked = row["masked"].get(mod)
            if masked is None:
                cells.append("n/a")
                continue
            new = masked.get(metrics[0])
            change = relative_change(new, full.get(metrics[0]))
            cells.append(f"{fmt(new)} ({change:+.0%})" if change == change else fmt(new))
        rows.append(cells)
    return table(header, rows)
