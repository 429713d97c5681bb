"""Typed configuration: every run is described by one :class:`RunConfig`, saved beside its results.

Values are validated when the object is built, so a typo fails before any data is read.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from alignrec.errors import ConfigError

SPLITS = ("auto", "labels", "random", "time")
FORMATS = ("auto", "mmrec", "recbole")
METRICS = ("recall", "ndcg", "precision", "map", "hit")


@dataclass
class DataConfig:
    """Where the interactions are and how to turn them into train/valid/test.

    ``split``: ``labels`` uses the file's ``x_label`` column (0 train, 1 valid, 2 test); ``random`` is a
    seeded 8:1:1 split per user; ``time`` is leave-last-two-out by timestamp; ``auto`` picks ``labels``
    when the file has them and ``random`` otherwise. ``cold_item_fraction`` > 0 then moves every
    interaction of that share of the items out of training (see :mod:`alignrec.data.cold_start`).
    """

    path: str = ""
    format: str = "auto"
    split: str = "auto"
    rating_threshold: float | None = None
    k_core: int = 0
    seed: int = 2024
    features: list[str] | None = None
    text_fields: list[str] | None = None
    cache_dir: str | None = None
    cold_item_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.path:  # absolute, so that a run directory can be evaluated from any working directory
            self.path = str(Path(self.path).resolve())
        _choice("data.format", self.format, FORMATS)
        if not 0.0 <= self.cold_item_fraction < 1.0:
            raise ConfigError(f"data.cold_item_fraction must be in [0, 1), got {self.cold_item_fraction}")
        _choice("data.split", self.split, SPLITS)
        if self.k_core < 0:
            raise ConfigError(f"data.k_core must be >= 0, got {self.k_core}")


@dataclass
class TrainConfig:
    """Optimisation and early stopping. Early stopping reads the validation split only.

    Training stops after ``patience`` epochs without a better validation metric, but never before
    ``min_epochs`` epochs (some models sit on an early plateau longer than the patience).
    """

    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 1e-3
    lr_decay: float = 0.96
    lr_decay_every: int = 50
    patience: int = 20
    min_epochs: int = 0
    valid_metric: str = "recall@20"
    seed: int = 2024
    eval_batch_size: int = 2048
    threads: int | None = None
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "eval_batch_size", "lr_decay_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_epochs < 0:
            raise ConfigError(f"train.min_epochs must be >= 0, got {self.min_epochs}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        parse_metric(self.valid_metric)


@dataclass
class RunConfig:
    """A whole experiment: data, model (name + its own typed parameters) and training."""

    data: DataConfig = field(default_factory=DataConfig)
    model: str = "alignrec"
    params: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    topk: list[int] = field(default_factory=lambda: [5, 10, 20, 50])

    def __post_init__(self) -> None:
        from alignrec.models import model_params_class

        params_cls = model_params_class(self.model)
        if dataclasses.is_dataclass(self.params):
            self.params = dataclasses.asdict(self.params)
        self.params = dataclasses.asdict(build_dataclass(params_cls, self.params, f"params ({self.model})"))
        if not self.topk or any(k < 1 for k in self.topk):
            raise ConfigError(f"topk must be a non-empty list of positive integers, got {self.topk}")
        self.topk = sorted(set(int(k) for k in self.topk))
        _, k = parse_metric(self.train.valid_metric)
        if k not in self.topk:
            self.topk = sorted({*self.topk, k})

    def model_params(self) -> Any:
        from alignrec.models import model_params_class

        return build_dataclass(model_params_class(self.model), self.params, f"params ({self.model})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        raw = dict(raw)
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown config section(s): {sorted(unknown)}")
        return cls(
            data=build_dataclass(DataConfig, raw.get("data", {}), "data"),
            model=raw.get("model", "alignrec"),
            params=raw.get("params", {}),
            train=build_dataclass(TrainConfig, raw.get("train", {}), "train"),
            topk=raw.get("topk", [5, 10, 20, 50]),
        )

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(raw)


def parse_metric(name: str) -> tuple[str, int]:
    """``"recall@20"`` -> ``("recall", 20)``."""
    metric, sep, k = name.lower().partition("@")
    if not sep or metric not in METRICS or not k.isdigit() or int(k) < 1:
        raise ConfigError(f"metric must look like 'recall@20' with one of {METRICS}, got {name!r}")
    return metric, int(k)


def build_dataclass(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build ``cls`` from a dict, converting strings from the CLI and naming any bad field."""
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    hints = get_type_hints(cls)
    converted = {name: _coerce(value, hints[name], f"{where}.{name}") for name, value in values.items()}
    return cls(**converted)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["alpha=0.1", "knn_k=5"]`` -> ``{"alpha": "0.1", "knn_k": "5"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"expected NAME=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _coerce(value: Any, hint: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value
    text = str(hint)
    optional = "None" in text
    if optional and value.lower() in ("none", "null", ""):
        return None
    try:
        if "bool" in text:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if "list" in text:
            items = [v for v in value.split(",") if v]
            return [int(v) for v in items] if "int" in text else items
        if "int" in text and "float" not in text:
            return int(value)
        if "float" in text:
            return float(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: cannot read {value!r} as {text}") from exc
    return value


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")
