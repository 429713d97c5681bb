"""The content side of a run's export (:mod:`alignrec.runs.export`): the content space, which encoder made each of
its modalities, and MMEnc's weights, with whether a server can put a new item in that space and, if not, why."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.content.build import pretrain_log_folder
from alignrec.content.mmenc import MMEnc
from alignrec.content.registry import spec_path, with_spec_path
from alignrec.content.weights import fit_weights, tensor_dict
from alignrec.data import Dataset, concat_normalised, is_stage1_feature
from alignrec.data.dataset import CARD_SUFFIX, FEATURE_SUFFIX, l2_normalise
from alignrec.data.readers import load_feature_matrix
from alignrec.errors import ConfigError, RunDirError
from alignrec.io import read_json
from alignrec.runs import rundir
from alignrec.runs.load import LoadedRun

MMENC_TOLERANCE = 1e-3  # how closely MMEnc must reproduce unified_feat.npy to be trusted with new items
ENCODERS = "encoders"  # the export's folder of encoder weights files named by specs


def save_array(folder: Path, files: dict[str, str], key: str, array: np.ndarray) -> None:
    name = f"{key}.npy"
    np.save(folder / name, np.ascontiguousarray(array), allow_pickle=False)
    files[key] = name


def encode_report(folder: Path) -> dict[str, Any]:
    path = folder / "encode_report.json"
    try:
        return read_json(path) if path.is_file() else {}  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def write_content(run: LoadedRun, out: Path, files: dict[str, str]) -> dict[str, Any] | None:
    """The content space and what a server needs to put a new item in it; None without item features."""
    dataset, folder = run.dataset, Path(run.config.data.path)
    matrix = run.model.content_input(dataset)
    if matrix is None:
        if not dataset.features:
            return None
        matrix = dataset.unified_feature()
    matrix = np.asarray(matrix, dtype=np.float32)
    save_array(out, files, "item_content", matrix)
    feature = _feature_name(matrix, dataset)
    info: dict[str, Any] = {"feature": feature, "dim": int(matrix.shape[1]), "modalities": [], "encoders": {}}
    report = encode_report(folder)
    if feature is not None and is_stage1_feature(feature):
        mmenc = _export_mmenc(folder, dataset, matrix, out, files, feature)
        info["mmenc"] = mmenc
        info["modalities"] = mmenc.get("modalities", [])
    elif feature == "concat":
        info["modalities"] = [name for name in sorted(dataset.features) if not is_stage1_feature(name)]
    elif feature is not None:
        info["modalities"] = [feature]
    info["modality_dims"] = {name: _modality_dim(dataset, folder, name) for name in info["modalities"]}
    for name, dim in info["modality_dims"].items():
        entry = report.get(name)
        if isinstance(entry, dict) and isinstance(entry.get("spec"), str) and entry.get("dim") == dim:
            spec = _exported_spec(entry["spec"], out, len(info["encoders"]))
            if spec is not None:
                info["encoders"][name] = spec
    info["new_items"] = _new_item_support(info)
    return info


def _exported_spec(spec: str, out: Path, number: int) -> str | None:
    """``spec`` as the export records it: a weights file or model folder it names is copied into
    ``out/encoders/`` and the spec points at the copy (relative to the export); None when that file is gone or
    the spec is not a known encoder."""
    try:
        source = spec_path(spec)
    except ConfigError:
        return None
    if source is None:
        return spec  # weights shipped in a pip package, found by the package on the server
    source_path = Path(source)
    name = f"{ENCODERS}/encoder{number}{source_path.suffix if source_path.is_file() else ''}"
    (out / ENCODERS).mkdir(exist_ok=True)
    if source_path.is_file():
        shutil.copyfile(source_path, out / name)
    elif source_path.is_dir():
        shutil.copytree(source_path, out / name)
    else:
        return None
    return with_spec_path(spec, name)


def _feature_name(matrix: np.ndarray, dataset: Dataset) -> str | None:
    """Which of the dataset's features ``matrix`` is: a feature's name, ``"concat"``, or None (something else)."""
    for name, feature in dataset.features.items():
        if feature.shape == matrix.shape and np.array_equal(feature, matrix):
            return name
    if dataset.features and "unified" not in dataset.features:
        concat = concat_normalised([dataset.features[k] for k in sorted(dataset.features) if not is_stage1_feature(k)])
        if concat.shape == matrix.shape and np.allclose(concat, matrix):
            return "concat"
    return None


def _modality_dim(dataset: Dataset, folder: Path, name: str) -> int | None:
    if name in dataset.features:
        return int(dataset.features[name].shape[1])
    path = folder / f"{name}{FEATURE_SUFFIX}"
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False) if path.is_file() else None
    except (OSError, ValueError, EOFError):  # unreadable: no width, so no new items from this modality
        return None
    return int(matrix.shape[1]) if matrix is not None and matrix.ndim == 2 else None


def _new_item_support(info: dict[str, Any]) -> dict[str, Any]:
    """Whether a new item can be put in the content space, and with which modalities; else why not."""
    if info["feature"] is None:
        return {"possible": False, "reason": "the model's content input is not one of the dataset's feature files, "
                                             "so a new item's content cannot be computed"}
    if is_stage1_feature(info["feature"]) and not info.get("mmenc", {}).get("file"):
        why = info.get("mmenc", {}).get("reason", "not found")
        return {"possible": False, "reason": f"the content space is MMEnc's {info['feature']} feature, but its "
                                             f"encoder was not usable ({why})"}
    usable = sorted(info["encoders"])
    if not usable:
        return {"possible": False, "reason": f"none of the modalities {info['modalities']} was encoded by an alignrec "
                                             "encoder (alignrec encode / the pipeline's content section); their "
                                             "features came from elsewhere, so new content cannot be encoded the "
                                             "same way"}
    return {"possible": True, "modalities": usable}


def _export_mmenc(folder: Path, dataset: Dataset, unified: np.ndarray, out: Path, files: dict[str, str],
                  name: str = "unified") -> dict[str, Any]:
    """MMEnc's weights as ``mmenc.npz`` when its checkpoint is found and reproduces ``unified`` (the stage-1 feature
    ``name``) from the modality features; otherwise the reason it is not usable."""
    path = _find_mmenc(folder, name)
    if path is None:
        return {"reason": f"no MMEnc checkpoint ({pretrain_log_folder(name)}/mmenc.pt) found for {folder}"}
    try:
        saved = rundir.load_torch(path)
        if not isinstance(saved, dict) or not isinstance(saved.get("config", {}), dict):
            raise RunDirError(f"{path}: not an MMEnc checkpoint ('model', 'config' and 'dims' expected)")
        weights = tensor_dict(saved.get("model"), f"{path}: 'model'")
    except RunDirError as exc:  # e.g. a crafted checkpoint: refused, and new items are not offered
        return {"reason": str(exc)}
    config, dims = saved.get("config", {}), list(saved.get("dims", []))
    names = list(config.get("modalities", []))
    arch = {k: config[k] for k in ("width", "out_dim", "fusion", "layers", "heads", "dropout") if k in config}
    mats = []
    for name in names:
        feature = dataset.features.get(name)
        file = folder / f"{name}{FEATURE_SUFFIX}"
        if feature is None and file.is_file():
            feature = load_feature_matrix(file, dataset.n_items)
        if feature is None:
            return {"reason": f"{path}: its modality {name!r} is not in {folder}", "modalities": names}
        mats.append(l2_normalise(feature))
    if [m.shape[1] for m in mats] != dims:
        return {"reason": f"{path}: input widths {dims} differ from the features' {[m.shape[1] for m in mats]}"}
    try:
        model = MMEnc(dims, **arch)
        fit_weights(model, weights, str(path))
    except (RunDirError, ValueError, TypeError, AssertionError) as exc:  # an architecture MMEnc cannot be built with
        return {"reason": f"{path}: not usable ({exc})", "modalities": names}
    if _mmenc_gap(model, mats, unified) > MMENC_TOLERANCE:
        return {"reason": f"{path} does not reproduce {folder / (name + FEATURE_SUFFIX)} (another pre-training?)",
                "modalities": names}
    np.savez(out / "mmenc.npz", **{k: v.detach().cpu().numpy() for k, v in weights.items()})
    files["mmenc"] = "mmenc.npz"
    return {"file": "mmenc.npz", "checkpoint": str(path), "dims": dims, "modalities": names, **arch}


def _mmenc_gap(model: MMEnc, mats: list[np.ndarray], unified: np.ndarray) -> float:
    """Largest absolute difference between MMEnc's output on the catalogue and the unified feature file."""
    model.eval()
    present = torch.from_numpy(np.stack([np.abs(m).sum(1) > 0 for m in mats], axis=1))
    gap = 0.0
    with torch.no_grad():
        for start in range(0, len(present), 2048):
            sl = slice(start, start + 2048)
            out = model([torch.from_numpy(m[sl]) for m in mats], present[sl]).numpy()
            out[~present[sl].any(1).numpy()] = 0.0
            gap = max(gap, float(np.abs(out - unified[sl]).max(initial=0.0)))
    return gap


def _find_mmenc(folder: Path, name: str = "unified") -> Path | None:
    """The MMEnc checkpoint behind ``folder``'s stage-1 feature ``name``: named in its card, else the places the CLI
    (``FOLDER/pretrain``, ``FOLDER/pretrain-<name>``) and the pipeline (``WORKDIR/pretrain`` beside
    ``WORKDIR/dataset``) put it."""
    card = folder / f"{name}{CARD_SUFFIX}"
    candidates = []
    if card.is_file():
        try:
            named = read_json(card).get("mmenc")
        except (OSError, ValueError):
            named = None
        if named:
            candidates.append(Path(named))
    log = pretrain_log_folder(name)
    candidates += [folder / log / "mmenc.pt", folder.parent / log / "mmenc.pt"]
    return next((p for p in candidates if p.is_file()), None)
