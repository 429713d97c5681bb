"""Report figures, each returned as PNG bytes (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from alignrec.errors import ConfigError


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError("reports need matplotlib: pip install 'alignrec[report]'") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()


def learning_curves(histories: dict[str, list[dict[str, Any]]], metric: str) -> bytes:
    """Training loss and validation ``metric`` per epoch, one line per run."""
    plt = pyplot()
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        ax_loss.plot(epochs, [r.get("loss", np.nan) for r in rows], marker=".", label=name)
        ax_metric.plot(epochs, [r.get(f"valid_{metric}", np.nan) for r in rows], marker=".", label=name)
    ax_loss.set(title="training loss", xlabel="epoch", ylabel="loss")
    ax_metric.set(title=f"validation {metric}", xlabel="epoch", ylabel=metric)
    for ax in (ax_loss, ax_metric):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return to_png(fig)


def metric_at_k(means: dict[str, dict[str, float]], ks: list[int],
                metrics: tuple[str, ...] = ("recall", "ndcg")) -> bytes:
    """Test ``metric@K`` against K, one panel per metric, one line per run."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, values in means.items():
            ax.plot(ks, [values.get(f"{metric}@{k}", np.nan) for k in ks], marker="o", label=name)
        ax.set(title=f"test {metric}@K", xlabel="K", ylabel=metric, xticks=ks)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return to_png(fig)


def grouped_bars(table: dict[str, dict[str, dict[str, float]]], metric: str, title: str) -> bytes:
    """Bar chart of ``table[run][group][metric]``: groups on the x axis, one bar per run."""
    plt = pyplot()
    groups: list[str] = []
    for per_group in table.values():
        groups += [g for g in per_group if g not in groups]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(groups) + 2), 3.6))
    width = 0.8 / max(len(table), 1)
    x = np.arange(len(groups))
    for i, (name, per_group) in enumerate(table.items()):
        values = [per_group.get(g, {}).get(metric, 0.0) for g in groups]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    labels = [f"{g}\n(n={int(_first(table, g).get('users', 0))})" for g in groups]
    ax.set_xticks(x, labels)
    ax.set(title=title, ylabel=metric)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return to_png(fig)


def _first(table: dict[str, dict[str, dict[str, float]]], group: str) -> dict[str, float]:
    for per_group in table.values():
        if group in per_group:
            return per_group[group]
    return {}


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of ``x`` (centred SVD), ``[n, 2]``."""
    centred = np.asarray(x, dtype=np.float64) - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def embedding_projection(item_emb: np.ndarray, popularity: np.ndarray, title: str) -> bytes:
    """PCA of item embeddings, coloured by log(1 + training interactions)."""
    plt = pyplot()
    xy = pca_2d(item_emb)
    order = np.argsort(popularity, kind="stable")
    fig, ax = plt.subplots(figsize=(5, 4.2))
    points = ax.scatter(xy[order, 0], xy[order, 1], c=np.log1p(popularity[order]), s=6, cmap="viridis", alpha=0.8)
    fig.colorbar(points, ax=ax, label="log(1 + training interactions)")
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    return to_png(fig)
