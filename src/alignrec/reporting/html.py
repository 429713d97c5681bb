"""One self-contained HTML report: inline CSS, figures embedded as base64 PNG, no script, no network."""

from __future__ import annotations

import base64
import html
import json
import time
from typing import Any

from alignrec.reporting import markdown as md
from alignrec.reporting import plots
from alignrec.reporting.collect import ReportData

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { border-bottom: 2px solid #446; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; color: #334; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccd; padding: .25rem .6rem; text-align: right; }
th { background: #eef; } td:first-child, th:first-child, table.card td { text-align: left; }
img { max-width: 100%; display: block; margin: .6rem 0; }
pre { background: #f6f6fa; padding: .6rem; overflow-x: auto; font-size: .8rem; }
.note { color: #666; font-size: .9rem; } .grid { display: flex; flex-wrap: wrap; gap: 1rem; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def html_table(header: list[str], rows: list[list[str]], css_class: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def card_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def dataset_section(data: ReportData) -> str:
    cards: dict[str, dict[str, Any]] = {}
    for run in data.runs:
        stats = run.dataset_card.get("stats", {})
        cards.setdefault(str(stats.get("name", run.name)), {**stats, **{
            f"loader: {k}": v for k, v in run.dataset_card.get("report", {}).items()}})
    out = ["<h2>Dataset</h2>"]
    for name, card in cards.items():
        rows = [[k, card_value(v)] for k, v in card.items()]
        out.append(f"<h3>{esc(name)}</h3>" + html_table(["field", "value"], rows, "card"))
    return "".join(out)


def config_section(data: ReportData) -> str:
    out = ["<h2>Configuration</h2>"]
    for run in data.runs:
        out.append(f"<details><summary>{esc(run.name)} ({esc(run.config.get('model', ''))})</summary>"
                   f"<pre>{esc(json.dumps(run.config, indent=2))}</pre></details>")
    return "".join(out)


def results_section(data: ReportData) -> str:
    out = ["<h2>Test results</h2>",
           '<p class="note">Mean over test users with a 95% bootstrap confidence interval in brackets.</p>',
           html_table(["run", "model", "best epoch", *data.metrics], md.results_rows(data))]
    if data.comparisons:
        out += [f'<h3>Paired comparisons against {esc(data.baseline)}</h3>',
                '<p class="note">Per-user differences (run − baseline): paired bootstrap 95% CI, paired t-test '
                'and Wilcoxon signed-rank p-values.</p>',
                html_table(["comparison", "users", "diff", "95% CI", "t-test p", "Wilcoxon p"],
                           md.comparison_rows(data))]
    out += [f'<p class="note">{esc(n)}</p>' for n in data.notes]
    ks = sorted(set.intersection(*(set(r.ks) for r in data.runs)))
    out.append(image(plots.metric_at_k({r.name: r.means for r in data.runs}, ks), "metric at K"))
    return "".join(out)


def curves_section(data: ReportData) -> str:
    histories = {r.name: r.history for r in data.runs if r.history}
    if not histories:
        return "<h2>Learning curves</h2><p class='note'>No run has per-epoch history (non-trainable models).</p>"
    metric = str(data.runs[0].config.get("train", {}).get("valid_metric", "recall@20"))
    return "<h2>Learning curves</h2>" + image(plots.learning_curves(histories, metric), "learning curves")


def slices_section(data: ReportData) -> str:
    metric = md.slice_metric(data)
    k = int(metric.split("@")[1])
    activity = {r.name: r.activity for r in data.runs}
    popularity = {r.name: r.popularity for r in data.runs}
    out = [f"<h2>Beyond accuracy (@{k})</h2>",
           '<p class="note">Catalogue coverage, Gini index of recommendation counts, mean training '
           'popularity of recommended items, share of recommendations outside the top-20% items.</p>',
           html_table(*md.beyond_rows(data, k)),
           "<h2>Slices</h2><h3>By user activity (training interactions)</h3>",
           image(plots.grouped_bars(activity, metric, f"{metric} by user activity"), "activity slices"),
           html_table(*md.slice_rows(activity, metric)),
           "<h3>By popularity of the test item</h3>",
           image(plots.grouped_bars(popularity, metric, f"{metric} by test-item popularity"), "popularity slices"),
           html_table(*md.slice_rows(popularity, metric))]
    if any(r.cold_start for r in data.runs):
        out += ["<h3>Cold-start items (ranked among items without training interactions)</h3>",
                html_table(*md.cold_rows(data))]
    return "".join(out)


def embeddings_section(data: ReportData) -> str:
    figures = [image(plots.embedding_projection(r.item_embeddings, r.item_popularity, f"{r.name}: item embeddings"),
                     f"{r.name} item embeddings")
               for r in data.runs if r.item_embeddings is not None and r.item_popularity is not None]
    if not figures:
        return ""
    return ("<h2>Item embeddings (PCA, coloured by popularity)</h2><div class='grid'>"
            + "".join(f"<div>{f}</div>" for f in figures) + "</div>")


def render(data: ReportData, title: str = "alignrec report") -> str:
    """The whole report as one HTML string."""
    runs = ", ".join(esc(r.name) for r in data.runs)
    body = "".join([
        f"<h1>{esc(title)}</h1><p class='note'>Runs: {runs}. Generated {esc(time.strftime('%Y-%m-%d %H:%M'))}.</p>",
        dataset_section(data), results_section(data), curves_section(data), slices_section(data),
        embeddings_section(data), config_section(data),
    ])
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")
