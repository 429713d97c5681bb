"""Synthetic interaction datasets for scale tests: never for claims about accuracy.

:func:`write_synthetic` writes a dataset folder that :func:`alignrec.data.load_dataset` reads like any other:

* ``synthetic.inter.parquet``: ``userID``, ``itemID`` (int64), one row per distinct pair, written in row groups;
* ``<modality>_feat.npy``: one float32 row per item, written in blocks through a memory map;
* ``synthetic.json``: the :class:`SyntheticSpec` it came from.

The generative story, vectorised throughout (no Python loop over users, items or interactions):

* user activity and item popularity follow power laws (weight of the ``r``-th ranked user ``(r + 1)^-a``, ranks
  shuffled over ids), so a few users and items dominate, as in real logs;
* every item belongs to one of ``n_clusters`` latent clusters; every user has ``favourites`` favourite clusters
  and draws from them with probability ``affinity``, otherwise from the whole catalogue;
* an interaction is (a user by activity, then an item by popularity inside the chosen cluster); repeated pairs are
  dropped and more are drawn until there are ``n_interactions`` distinct pairs;
* each modality's feature is the item's cluster centre plus item noise, through a random linear map: the
  features carry the same latent structure the interactions do, so content graphs are meaningful.

The same spec and seed give the same files.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alignrec.errors import ConfigError
from alignrec.io import write_json

INTERACTIONS_FILE = "synthetic.inter.parquet"
ROW_GROUP = 1 << 20


@dataclass
class SyntheticSpec:
    """What to generate. Sizes must leave room for the pairs: ``n_interactions`` at most a tenth of
    ``n_users * n_items`` (denser requests would spend their time redrawing repeated pairs)."""

    n_users: int
    n_items: int
    n_interactions: int
    seed: int = 0
    feature_dims: dict[str, int] = field(default_factory=lambda: {"image": 64, "text": 64})
    n_clusters: int = 64
    favourites: int = 3
    affinity: float = 0.8
    user_exponent: float = 0.5
    item_exponent: float = 0.8
    latent_dim: int = 16
    noise: float = 0.5

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_interactions", "n_clusters", "favourites", "latent_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"synthetic {name} must be at least 1, got {getattr(self, name)}")
        if self.n_interactions > self.n_users * self.n_items // 10:
            raise ConfigError(f"synthetic n_interactions {self.n_interactions} is more than a tenth of n_users x "
                              f"n_items ({self.n_users} x {self.n_items}); ask for fewer or a larger grid")
        if not 0.0 <= self.affinity <= 1.0:
            raise ConfigError(f"synthetic affinity must be in [0, 1], got {self.affinity}")
        if any(d < 1 for d in self.feature_dims.values()):
            raise ConfigError(f"synthetic feature_dims must be positive, got {self.feature_dims}")


def power_law_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities ``∝ (rank + 1)^-exponent`` with the ranks shuffled over the ``n`` ids."""
    weights = (np.arange(n, dtype=np.float64) + 1.0) ** -exponent
    weights = weights[rng.permutation(n)]
    return weights / weights.sum()


class _ItemSampler:
    """Draws items by popularity, from the whole catalogue or from one cluster, by inverse CDF over the items
    ordered by cluster."""

    def __init__(self, popularity: np.ndarray, cluster: np.ndarray, n_clusters: int) -> None:
        self.order = np.argsort(cluster, kind="stable")
        self.cdf = np.cumsum(popularity[self.order])
        self.cdf /= self.cdf[-1]
        ends = np.searchsorted(cluster[self.order], np.arange(n_clusters), side="right")
        self.high = np.where(ends > 0, self.cdf[np.maximum(ends - 1, 0)], 0.0)
        self.low = np.r_[0.0, self.high[:-1]]

    def draw(self, clusters: np.ndarray | None, rng: np.random.Generator, size: int) -> np.ndarray:
        u = rng.random(size)
        if clusters is not None:
            u = self.low[clusters] + u * (self.high[clusters] - self.low[clusters])
        position = np.minimum(np.searchsorted(self.cdf, u, side="right"), len(self.cdf) - 1)
        return self.order[position]


def generate_pairs(spec: SyntheticSpec, rng: np.random.Generator, item_cluster: np.ndarray) -> np.ndarray:
    """``int64 [n_interactions, 2]`` distinct (user, item) pairs, sorted by user then item."""
    activity = power_law_weights(spec.n_users, spec.user_exponent, rng)
    popularity = power_law_weights(spec.n_items, spec.item_exponent, rng)
    present = np.unique(item_cluster)  # clusters with at least one item
    favourite = present[rng.integers(0, len(present), size=(spec.n_users, spec.favourites))]
    items = _ItemSampler(popularity, item_cluster, spec.n_clusters)
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < spec.n_interactions:
        want = int((spec.n_interactions - len(keys)) * 1.1) + 16
        users = rng.choice(spec.n_users, size=want, p=activity)
        in_cluster = rng.random(want) < spec.affinity
        picked = np.empty(want, dtype=np.int64)
        chosen = favourite[users[in_cluster], rng.integers(0, spec.favourites, size=int(in_cluster.sum()))]
        picked[in_cluster] = items.draw(chosen, rng, len(chosen))
        picked[~in_cluster] = items.draw(None, rng, int((~in_cluster).sum()))
        keys = np.unique(np.concatenate([keys, users.astype(np.int64) * spec.n_items + picked]))
    if len(keys) > spec.n_interactions:
        keys = np.sort(rng.choice(keys, size=spec.n_interactions, replace=False))
    return np.stack([keys // spec.n_items, keys % spec.n_items], axis=1)


def write_features(folder: Path, spec: SyntheticSpec, rng: np.random.Generator, item_cluster: np.ndarray,
                   block: int = 65536) -> None:
    """One ``<name>_feat.npy`` per modality, cluster centre + noise through a random map, written in blocks."""
    centres = rng.normal(size=(spec.n_clusters, spec.latent_dim))
    for name in sorted(spec.feature_dims):
        dim = spec.feature_dims[name]
        mapping = rng.normal(size=(spec.latent_dim, dim)) / np.sqrt(spec.latent_dim)
        out = np.lib.format.open_memmap(folder / f"{name}_feat.npy", mode="w+", dtype=np.float32,
                                        shape=(spec.n_items, dim))
        for start in range(0, spec.n_items, block):
            clusters = item_cluster[start:start + block]
            latent = centres[clusters] + spec.noise * rng.normal(size=(len(clusters), spec.latent_dim))
            out[start:start + block] = (latent @ mapping).astype(np.float32)
        out.flush()
        del out


def write_interactions(path: Path, pairs: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("userID", pa.int64()), ("itemID", pa.int64())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(pairs), ROW_GROUP):
            chunk = pairs[start:start + ROW_GROUP]
            writer.write_table(pa.table({"userID": chunk[:, 0], "itemID": chunk[:, 1]}, schema=schema))


def write_synthetic(spec: SyntheticSpec, folder: str | os.PathLike[str]) -> Path:
    """Generate ``spec`` into the dataset folder ``folder`` (created; an existing one is an error). The folder
    appears only once complete: everything is written beside it and renamed into place."""
    folder = Path(folder)
    if folder.exists():
        raise ConfigError(f"{folder}: already exists; remove it or choose another folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        rng = np.random.default_rng(spec.seed)
        item_cluster = rng.integers(0, spec.n_clusters, size=spec.n_items)
        write_interactions(staging / INTERACTIONS_FILE, generate_pairs(spec, rng, item_cluster))
        write_features(staging, spec, rng, item_cluster)
        write_json(staging / "synthetic.json", dataclasses.asdict(spec))
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
