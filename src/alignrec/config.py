"""Typed configuration: the sections every experiment is built from, and one way to read them.

A config is a tree of dataclasses. Files (JSON or TOML) and command-line overrides (``--set train.lr=0.01``,
``--param align_weight=0.1``) are plain nested dicts until :func:`build_dataclass` turns them into the typed tree,
checking every value and naming the field at fault. What defines an experiment (:class:`DataConfig`,
:class:`TrainConfig`) is kept apart from how a process runs it (:class:`RuntimeOptions`: progress output,
threads, device), so changing a run-time option never invalidates a cache, a pipeline step or a resume.

This module imports nothing from the rest of alignrec except its errors.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from alignrec.errors import ConfigError

SPLITS = ("auto", "labels", "random", "time", "leave_one_out")
FORMATS = ("auto", "mmrec", "recbole", "parquet")
METRICS = ("recall", "ndcg", "precision", "map", "hit")
RANDOM_SPLIT_ROUNDING = ("floor", "mmrec")


@dataclass
class DataConfig:
    """Where the interactions are and how to turn them into train/valid/test.

    ``split``: ``labels`` uses the file's ``x_label`` column (0 train, 1 valid, 2 test); ``random`` is a
    seeded 8:1:1 split per user (``random_rounding`` says how a user's n interactions are divided, see
    :func:`alignrec.data.split.random_split`); ``time`` is leave-last-two-out by timestamp; ``auto`` picks
    ``labels`` when the file has them and ``random`` otherwise. ``leave_one_out`` is the sequential track's split
    (a sequential model's ``auto``): rows in each user's chronological order (timestamp, ties by file order; the
    file's order without timestamps), the last interaction test, the second last valid (a file's ``x_label``,
    where present, must say the same). ``cold_item_fraction`` > 0 then moves every
    interaction of that share of the items out of training (see :mod:`alignrec.data.cold_start`).
    ``allow_split_mismatch`` accepts learned features (e.g. a unified feature pre-trained with validation
    selection) made on a different split, which is otherwise an error. ``removal`` names a removal file
    (:mod:`alignrec.data.removal`) applied after the split: what a forget request took out.
    ``keep_duplicates`` keeps repeated (user, item) rows (as the MMRec toolbox does; graphs still count such a
    pair once) instead of removing all but the first. ``k_core`` filtering drops the items it leaves without any
    interaction from the item index (models are sized by what is kept; the files keep every catalogue row);
    ``keep_filtered_items`` keeps them (indexed, never interacted with), as steps that write per-item files for
    the whole catalogue (encode, pretrain) need.
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
    random_rounding: str = "floor"
    allow_split_mismatch: bool = False
    removal: str | None = None
    keep_duplicates: bool = False
    keep_filtered_items: bool = False

    def __post_init__(self) -> None:
        if self.path:  # absolute, so that a run directory can be evaluated from any working directory
            self.path = str(Path(self.path).resolve())
        if self.removal:
            self.removal = str(Path(self.removal).resolve())
        choice("data.format", self.format, FORMATS)
        if not 0.0 <= self.cold_item_fraction < 1.0:
            raise ConfigError(f"data.cold_item_fraction must be in [0, 1), got {self.cold_item_fraction}")
        choice("data.split", self.split, SPLITS)
        if self.split == "leave_one_out" and self.cold_item_fraction > 0:
            raise ConfigError("data.cold_item_fraction must be 0 with data.split 'leave_one_out' (the sequential "
                              "track holds out each user's last two interactions, not whole items)")
        choice("data.random_rounding", self.random_rounding, RANDOM_SPLIT_ROUNDING)
        if self.k_core < 0:
            raise ConfigError(f"data.k_core must be >= 0, got {self.k_core}")

    def identity(self) -> dict[str, Any]:
        """The fields that decide which interactions land in which split (not where files are cached)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "cache_dir"}


@dataclass
class TrainConfig:
    """Optimisation and early stopping: part of what defines an experiment. Early stopping reads validation only.

    Training stops after ``patience`` epochs without a better validation metric, but never before
    ``min_epochs`` epochs: the validation curves of these models often peak early, dip and climb again, and
    patience alone stops some seeds on that early peak. ``min_epochs = 50`` with ``patience = 20`` is the
    project's one stopping rule for every model (README, "Results").
    """

    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 1e-3
    lr_decay: float = 0.96
    lr_decay_every: int = 50
    patience: int = 20
    min_epochs: int = 50
    valid_metric: str = "recall@20"
    seed: int = 2024
    eval_batch_size: int = 2048

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "eval_batch_size", "lr_decay_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_epochs < 0:
            raise ConfigError(f"train.min_epochs must be >= 0, got {self.min_epochs}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        parse_metric(self.valid_metric)


# Fields that run directories written before RuntimeOptions existed still carry under "train".
LEGACY_RUNTIME_FIELDS = ("threads", "device", "progress")


@dataclass
class RuntimeOptions:
    """How this process runs the work; never part of an experiment's identity."""

    progress: bool = True
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")


def parse_metric(name: str) -> tuple[str, int]:
    """``"recall@20"`` -> ``("recall", 20)``."""
    metric, sep, k = name.lower().partition("@")
    if not sep or metric not in METRICS or not k.isdigit() or int(k) < 1:
        raise ConfigError(f"metric must look like 'recall@20' with one of {METRICS}, got {name!r}")
    return metric, int(k)


def choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")


def config_key(f: dataclasses.Field[Any]) -> str:
    """The key a field has in files: its name, or ``metadata["key"]`` (``import_`` is ``"import"``)."""
    return str(f.metadata.get("key", f.name))


def build_dataclass(cls: type, values: Any, where: str) -> Any:
    """Build ``cls`` from a dict (nested dicts become nested dataclasses), converting CLI strings and naming
    any unknown or ill-typed field. An instance of ``cls`` is returned as it is."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a table of fields, got {values!r}")
    known = {config_key(f): f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    hints = get_type_hints(cls)
    converted = {known[key].name: coerce(value, hints[known[key].name], f"{where}.{key}")
                 for key, value in values.items()}
    return cls(**converted)


def to_dict(obj: Any) -> Any:
    """A config tree as plain JSON-able data, with file keys (the inverse of :func:`build_dataclass`)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {config_key(f): to_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


class Override(str):
    """A value typed on the command line (``--set``/``--param``): parsed into the field's type, lists split at
    commas. Plain strings from config files are taken as they are."""


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as type ``hint``: command-line strings are parsed, nested dicts become dataclasses, and a value
    of the wrong type is an error naming ``where``."""
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        if value is None or (isinstance(value, Override) and value.lower() in ("none", "null", "")):
            return None
        hint = args[0] if len(args) == 1 else Any
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, where)
    if get_origin(hint) is list:
        (item,) = get_args(hint) or (Any,)
        items = [Override(v.strip()) for v in value.split(",") if v.strip()] if isinstance(value, Override) else value
        if not isinstance(items, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [coerce(v, item, f"{where}[{n}]") for n, v in enumerate(items)]
    if isinstance(value, Override):
        return _parse(value, hint, where)
    return _checked(value, hint, where)


def _parse(value: str, hint: Any, where: str) -> Any:
    try:
        if hint is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: cannot read {value!r} as {hint.__name__}") from exc
    return str(value)


def _checked(value: Any, hint: Any, where: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    ok = {bool: lambda v: isinstance(v, bool), str: lambda v: isinstance(v, str),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool), float: lambda v: isinstance(v, float)}
    if hint in ok and not ok[hint](value):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["alpha=0.1", "knn_k=5"]`` -> ``{"alpha": "0.1", "knn_k": "5"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected NAME=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def apply_overrides(raw: dict[str, Any], assignments: list[str], prefix: str = "") -> dict[str, Any]:
    """A copy of the raw config tree with ``path.to.field=value`` assignments set (values stay strings until
    :func:`build_dataclass` converts them). ``prefix`` is put before every path (``--param x=1`` is
    ``params.x=1``)."""
    out = copy.deepcopy(raw)
    for path, value in parse_assignments(assignments).items():
        value = Override(value)
        keys = [k for k in f"{prefix}{path}".split(".") if k]
        node = out
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {path}: {key!r} is a value, not a section")
            node = child
        node[keys[-1]] = value
    return out


def model_params(assignments: list[str], model: str) -> dict[str, Any]:
    """The ``params`` overrides for ``model`` out of ``MODEL:NAME=VALUE`` assignments (a comparison's
    ``--param alignrec:knn_k=10``); other models' are skipped, one without a model raises."""
    own = []
    for assignment in assignments:
        name, sep, pair = assignment.partition(":")
        if not sep or "=" in name:
            raise ConfigError(f"--param {assignment!r}: expected MODEL:NAME=VALUE, e.g. alignrec:knn_k=10")
        if name.strip().lower() == model.lower():
            own.append(pair)
    return apply_overrides({}, own)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON (``.json``) or TOML (``.toml``) config file as a raw dict, with a clear error for bad syntax."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ImportError as exc:
                raise ConfigError(f"{path}: TOML configs need Python 3.11+ or 'pip install tomli'") from exc
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a table (a JSON object), got {type(raw).__name__}")
    return raw


__all__ = [
    "DataConfig", "Override", "RuntimeOptions", "TrainConfig", "apply_overrides", "build_dataclass", "coerce",
    "load_config_file", "parse_assignments", "parse_metric", "to_dict",
]
