"""The one way alignrec reads a weight file (run checkpoints, MMEnc's checkpoint, image-encoder weights).

``torch.load(map_location="cpu", weights_only=True)``: a file that holds anything but tensors and plain Python
values (a pickled object, which could run code when loaded) is refused, and any damaged file is an error that
names it. Third-party loaders that call ``torch.load`` themselves are never given a path: the model is built
without weights and its state dict is loaded from :func:`load_weights` with :func:`fit_weights`.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import torch

from alignrec.errors import AlignRecError, RunDirError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def load_weights(path: str | Path, error: type[AlignRecError] = RunDirError) -> Any:
    """The tensors and plain values in ``path``; ``error`` (naming the file) for anything else."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: weights file not found")
    if path.stat().st_size == 0:
        raise error(f"{path}: not a readable checkpoint (the file is empty)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unpickling_reason(str(exc))
        if "GLOBAL" in reason:  # a reference to a class or function: what a code-running pickle needs
            raise error(f"{path}: refused to load: it holds something other than tensors and plain values, which "
                        f"could run code ({reason})") from exc
        raise error(f"{path}: not a readable checkpoint ({reason})") from exc
    except Exception as exc:  # a damaged file fails in the zip reader, the unpickler or a tensor rebuild
        raise error(f"{path}: not a readable checkpoint ({_first_line(exc)})") from exc


def _unpickling_reason(text: str) -> str:
    """What torch's weights-only unpickler objected to, without its advice (which is to load unsafely)."""
    advice = ("Weights only load failed", "Check the documentation", "Please file an issue")
    lines = [line.strip().removeprefix("WeightsUnpickler error:").strip() for line in text.splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith(advice)) or "no detail"


def tensor_dict(value: Any, where: str, error: type[AlignRecError] = RunDirError) -> dict[str, torch.Tensor]:
    """``value`` as a state dict (``str -> tensor``, floating tensors finite); ``error`` naming ``where``."""
    if not isinstance(value, dict) or not value:
        raise error(f"{where}: expected a state dict of named tensors, got {type(value).__name__}")
    for key, tensor in value.items():
        if not isinstance(key, str) or not isinstance(tensor, torch.Tensor):
            raise error(f"{where}: entry {key!r} is a {type(tensor).__name__}, not a tensor")
    if bad := non_finite(value):
        raise error(f"{where}: tensor {bad!r} holds NaN or inf")
    return value


def non_finite(value: Any, prefix: str = "") -> str | None:
    """The name of the first floating tensor with NaN or inf (or float NaN) inside nested dicts and lists, or None."""
    if isinstance(value, torch.Tensor):
        bad = value.is_floating_point() and not bool(torch.isfinite(value).all())
        return (prefix or "tensor") if bad else None
    if isinstance(value, float):
        return (prefix or "value") if math.isnan(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, child in items:
        if found := non_finite(child, f"{prefix}.{key}" if prefix else str(key)):
            return found
    return None


def fit_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str,
                error: type[AlignRecError] = RunDirError) -> None:
    """``module.load_state_dict(state)``, with missing / unexpected keys and shape mismatches as ``error``."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise error(f"{where}: the weights do not fit the model: missing {missing[:5]}"
                    f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                    f"{' ...' if len(unexpected) > 5 else ''}")
    for key, tensor in state.items():
        want = expected[key]
        if tuple(tensor.shape) != tuple(want.shape) or tensor.is_floating_point() != want.is_floating_point():
            raise error(f"{where}: tensor {key!r} is {str(tensor.dtype).removeprefix('torch.')} "
                        f"{list(tensor.shape)}, the model needs {str(want.dtype).removeprefix('torch.')} "
                        f"{list(want.shape)}")
    try:
        module.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError) as exc:  # e.g. a dtype that cannot be copied in
        raise error(f"{where}: the weights do not fit the model ({_first_line(exc)})") from exc
