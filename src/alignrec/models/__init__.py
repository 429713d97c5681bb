"""The model zoo. Every model has the same small interface (:class:`Recommender`) and a registry name."""

from __future__ import annotations

from typing import Any

from alignrec.errors import ConfigError
from alignrec.models import alignrec as _alignrec  # noqa: F401  (registers the model)
from alignrec.models import bpr as _bpr  # noqa: F401
from alignrec.models import lightgcn as _lightgcn  # noqa: F401
from alignrec.models import pop as _pop  # noqa: F401
from alignrec.models.base import REGISTRY, Recommender


def model_class(name: str) -> type[Recommender]:
    if name not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {sorted(REGISTRY)}")
    return REGISTRY[name]


def model_params_class(name: str) -> type:
    return model_class(name).Params


def available_models() -> list[str]:
    return sorted(REGISTRY)


def build_model(name: str, dataset: Any, params: Any) -> Recommender:
    return model_class(name)(dataset, params)


__all__ = ["Recommender", "available_models", "build_model", "model_class", "model_params_class"]
