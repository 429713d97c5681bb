"""The model zoo: one file per model behind one interface (:class:`Recommender`), found by registry name."""

from __future__ import annotations

from alignrec.models import alignrec as _alignrec  # noqa: F401  (each import registers its model)
from alignrec.models import bpr as _bpr  # noqa: F401
from alignrec.models import cease as _cease  # noqa: F401
from alignrec.models import cm3 as _cm3  # noqa: F401
from alignrec.models import dgvae as _dgvae  # noqa: F401
from alignrec.models import ease as _ease  # noqa: F401
from alignrec.models import freedom as _freedom  # noqa: F401
from alignrec.models import itemknn as _itemknn  # noqa: F401
from alignrec.models import itemknn_cbf as _itemknn_cbf  # noqa: F401
from alignrec.models import lattice as _lattice  # noqa: F401
from alignrec.models import lightgcn as _lightgcn  # noqa: F401
from alignrec.models import lirdrec as _lirdrec  # noqa: F401
from alignrec.models import lrurec as _lrurec  # noqa: F401
from alignrec.models import mmhcl as _mmhcl  # noqa: F401
from alignrec.models import pop as _pop  # noqa: F401
from alignrec.models import rearm as _rearm  # noqa: F401
from alignrec.models import sasrec as _sasrec  # noqa: F401
from alignrec.models.base import (
    REGISTRY,
    NoParams,
    Recommender,
    available_models,
    build_model,
    model_class,
    register,
    resolve_params,
)

__all__ = ["REGISTRY", "NoParams", "Recommender", "available_models", "build_model", "model_class", "register",
           "resolve_params"]
