"""The config of one run: data, model with its typed parameters, training, and the cut-offs reported."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignrec.config import (
    LEGACY_RUNTIME_FIELDS,
    DataConfig,
    TrainConfig,
    apply_overrides,
    build_dataclass,
    load_config_file,
    parse_metric,
    to_dict,
)
from alignrec.errors import ConfigError
from alignrec.models import model_class, resolve_params

DEFAULT_TOPK = (5, 10, 20, 50)


def drop_legacy_runtime(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` without the run-time options that configs written by alignrec 0.1 kept under ``train``."""
    train = raw.get("train")
    if not isinstance(train, dict):
        return raw
    return {**raw, "train": {k: v for k, v in train.items() if k not in LEGACY_RUNTIME_FIELDS}}


@dataclass
class RunConfig:
    """A whole experiment. ``params`` is the model's own ``Params`` dataclass (a dict given here is resolved
    into it once, by the model registry; it stays typed from then on)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: str = "alignrec"
    params: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    topk: list[int] = field(default_factory=lambda: list(DEFAULT_TOPK))

    def __post_init__(self) -> None:
        self.params = resolve_params(self.model, self.params)
        self._check_track()
        if not self.topk or any(int(k) < 1 for k in self.topk):
            raise ConfigError(f"topk must be a non-empty list of positive integers, got {self.topk}")
        _, k = parse_metric(self.train.valid_metric)
        self.topk = sorted({*(int(k) for k in self.topk), k})

    @property
    def track(self) -> str:
        """``"general"`` or ``"sequential"``: the model's track (``Recommender.task``), which the split follows."""
        return str(model_class(self.model).task)

    def _check_track(self) -> None:
        """The sequential track's split is ``leave_one_out`` (what ``auto`` becomes for a sequential model); a
        model of one track on the other's split is refused."""
        split = self.data.split
        if self.track == "sequential":
            if split == "auto":
                self.data = dataclasses.replace(self.data, split="leave_one_out")
            elif split != "leave_one_out":
                raise ConfigError(f"model {self.model!r} is on the sequential track: data.split must be "
                                  f"'leave_one_out' (or 'auto'), got {split!r}")
        elif split == "leave_one_out":
            raise ConfigError(f"data.split 'leave_one_out' is the sequential track, but model {self.model!r} is on "
                              "the general track; use a sequential model (sasrec, lrurec) or another split")

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)  # type: ignore[no-any-return]

    def with_model(self, model: str, params: Any = None) -> RunConfig:
        """The same data, training and cut-offs for another model (default parameters unless given)."""
        return dataclasses.replace(self, model=model, params=params)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> RunConfig:
        return build_dataclass(cls, drop_legacy_runtime(raw), where)  # type: ignore[no-any-return]

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> RunConfig:
        """A JSON or TOML file, with ``section.field=value`` overrides applied."""
        return cls.from_dict(apply_overrides(load_config_file(path), overrides or []), str(path))
