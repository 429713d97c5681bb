"""``alignrec models``: the model zoo and each model's parameters with defaults."""

from __future__ import annotations

import argparse
import dataclasses

from alignrec.models import available_models, model_class


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list models and their parameters",
                       epilog="example:\n  alignrec models", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name in available_models():
        cls = model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"{name}: {doc}")
        for f in dataclasses.fields(cls.Params):
            print(f"    --param {f.name}={f.default}")
    return 0
