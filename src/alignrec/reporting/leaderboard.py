"""The benchmark leaderboard as a self-contained HTML page: the table and a bar chart with the seed spread."""

from __future__ import annotations

from typing import Any

from alignrec.reporting.html import CSS, esc, html_table, image
from alignrec.reporting.plots import pyplot, to_png

METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def leaderboard_plot(entries: list[dict[str, Any]], metric: str = "recall@20") -> bytes:
    """Mean test ``metric`` per model (± sample std over seeds, and each seed's value), one panel per dataset."""
    plt = pyplot()
    datasets = list(dict.fromkeys(e["dataset"] for e in entries))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        mine = [e for e in entries if e["dataset"] == dataset]
        names = [e["model"] for e in mine]
        means = [e[metric]["mean"] for e in mine]
        ax.bar(range(len(mine)), means, yerr=[e[metric]["std"] for e in mine], capsize=4,
               color=["#c44" if e["best"] else "#68a" for e in mine])
        for x, e in enumerate(mine):
            ax.plot([x] * len(e[metric]["values"]), e[metric]["values"], "k.", ms=4)
        ax.set_xticks(range(len(mine)), names, rotation=30, ha="right")
        ax.set(title=dataset, ylabel=f"test {metric}")
        ax.set_ylim(min(means) * 0.8, max(means) * 1.1)
        ax.grid(alpha=0.3, axis="y")
    return to_png(fig)


def render(entries: list[dict[str, Any]], title: str = "alignrec leaderboard") -> str:
    rows = [[e["dataset"], e["model"], *(f"{e[m]['mean']:.4f} ± {e[m]['std']:.4f}" for m in METRICS),
             ", ".join(map(str, e["best_epochs"])), f"{e['seconds_per_epoch']:.3f}", f"{e['peak_rss_mb']:.0f}",
             "best" if e["best"] else f"{e['p_vs_best']:.3g}"] for e in entries]
    header = ["dataset", "model", *METRICS, "best epochs", "s/epoch", "peak MB", "p vs best (Welch)"]
    body = (f"<h1>{esc(title)}</h1><p class='note'>Test metrics at each run's best validation epoch, mean ± sample "
            "std over seeds (dots: each seed).</p>" + image(leaderboard_plot(entries), "leaderboard")
            + html_table(header, rows))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")
