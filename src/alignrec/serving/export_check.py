"""The one check of a serving export (:mod:`alignrec.runs.export`), run by :func:`.bundle.load_bundle` before a
service starts: a corrupt or crafted export is refused with an error naming the file (and the row or field),
instead of starting "healthy" and failing on requests.

* Paths: every path an export names is relative to the export folder and, with symlinks followed, stays inside
  it (``files`` in the folder itself, item images in ``images/``, encoder files in ``encoders/``):
  :func:`inside` is the one confinement rule, used at start and again whenever a file is served.
* Files: each listed file has the SHA-256 the manifest records; arrays are read without pickle, after their
  header's shape and dtype are checked against the file's size; ``mmenc.npz`` must be an uncompressed NumPy zip.
* Contents: sizes against the manifest and each other, finite floats, index ranges, a monotone ``indptr``, the
  popularity and per-user counts the history implies, unique ids, MMEnc's weights against the architecture the
  manifest describes (names, shapes), the content space against its modalities and encoders.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch

from alignrec.content.image import file_media_type
from alignrec.content.mmenc import MMEnc
from alignrec.content.registry import encoder_kind, known_dim, spec_path, with_spec_path
from alignrec.data.dataset import is_stage1_feature
from alignrec.errors import AlignRecError, RunDirError
from alignrec.io import sha256_file

REQUIRED_FILES = ("users", "items", "train_indptr", "train_indices")
OPTIONAL_FILES = ("user_embeddings", "item_embeddings", "scores", "item_content", "mmenc", "removed_users",
                  "removed_items")
SCORING_KINDS = ("dot", "matrix", "none")
MMENC_ARCH = {"width": int, "out_dim": int, "fusion": str, "layers": int, "heads": int, "dropout": float}
IMAGES, ENCODERS, MANIFEST = "images", "encoders", "manifest.json"


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def inside(root: Path, name: Any, where: str) -> Path:
    """The real path of ``name`` (relative, symlinks followed) if it is inside ``root``; else an error naming
    ``where``. The one rule for every path an export names."""
    if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
        raise RunDirError(f"{where}: {name!r} is not a relative file name")
    if PurePosixPath(name).is_absolute() or Path(name).is_absolute():
        raise RunDirError(f"{where}: {name!r} is an absolute path; an export names only files inside itself")
    try:
        base, real = root.resolve(), (root / name).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise RunDirError(f"{where}: {name!r} cannot be resolved ({exc})") from exc
    if real == base or not real.is_relative_to(base):
        raise RunDirError(f"{where}: {name!r} points outside {root}; an export names only files inside it")
    return real



# --- the manifest ----------------------------------------------------------------------------------------------


def check_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Types and consistency of the manifest's fields (sizes, files, scoring, content)."""
    for key in ("users", "items"):
        if not _int(manifest.get(key)) or manifest[key] < 0:
            raise RunDirError(f"{path}: {key!r} is {manifest.get(key)!r}, not a count")
    files, digests = manifest.get("files"), manifest.get("sha256")
    if not isinstance(files, dict) or not isinstance(digests, dict):
        raise RunDirError(f"{path}: 'files' and 'sha256' must be objects")
    if missing := [k for k in REQUIRED_FILES if k not in files]:
        raise RunDirError(f"{path}: 'files' lists no {missing} file")
    if unknown := sorted(set(files) - set(REQUIRED_FILES) - set(OPTIONAL_FILES)):
        raise RunDirError(f"{path}: 'files' lists unknown entries {unknown}")
    for key, name in files.items():
        suffix = ".parquet" if key in ("users", "items") else ".npz" if key == "mmenc" else ".npy"
        if not isinstance(name, str) or not name.endswith(suffix):
            raise RunDirError(f"{path}: files[{key!r}] = {name!r} is not a {suffix} file name")
        if not isinstance(digests.get(name), str):
            raise RunDirError(f"{path}: files[{key!r}] = {name!r} has no SHA-256 in 'sha256'")
    scoring = manifest.get("scoring")
    if not isinstance(scoring, dict) or scoring.get("kind") not in SCORING_KINDS:
        raise RunDirError(f"{path}: 'scoring' must be an object with 'kind' one of {list(SCORING_KINDS)}")
    needs = {"dot": ("user_embeddings", "item_embeddings"), "matrix": ("scores",), "none": ()}[scoring["kind"]]
    if missing := [k for k in needs if k not in files]:
        raise RunDirError(f"{path}: scoring {scoring['kind']!r} needs {missing} in 'files'")
    if scoring["kind"] == "dot" and (not _int(scoring.get("dim")) or scoring["dim"] < 1):
        raise RunDirError(f"{path}: scoring 'dot' needs a positive 'dim', got {scoring.get('dim')!r}")
    for key in ("images", "removed"):
        if not isinstance(manifest.get(key, {}), dict):
            raise RunDirError(f"{path}: {key!r} must be an object")
    for key, kinds in (("model", str), ("dataset", str), ("best_epoch", (int, type(None)))):
        if key in manifest and (not isinstance(manifest[key], kinds) or isinstance(manifest[key], bool)):
            raise RunDirError(f"{path}: {key!r} is {manifest[key]!r}")
    if manifest.get("images", {}).get("folder", IMAGES) != IMAGES:
        raise RunDirError(f"{path}: images.folder must be {IMAGES!r}, got {manifest['images']['folder']!r}")
    content = manifest.get("content")
    if content is None:
        if "item_content" in files or "mmenc" in files:
            raise RunDirError(f"{path}: 'files' lists content files but 'content' is null")
        return
    _check_content(content, files, f"{path}: content")


def _check_content(content: Any, files: dict[str, str], where: str) -> None:
    if not isinstance(content, dict):
        raise RunDirError(f"{where}: must be an object or null")
    if "item_content" not in files:
        raise RunDirError(f"{where}: describes a content space but 'files' lists no item_content")
    feature, modalities = content.get("feature"), content.get("modalities")
    dims, encoders = content.get("modality_dims"), content.get("encoders")
    if feature is not None and not isinstance(feature, str):
        raise RunDirError(f"{where}.feature: {feature!r} is not a feature name")
    if not _int(content.get("dim")) or content["dim"] < 1:
        raise RunDirError(f"{where}.dim: {content.get('dim')!r} is not a width")
    if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
        raise RunDirError(f"{where}.modalities: {modalities!r} is not a list of names")
    if not isinstance(dims, dict) or set(dims) != set(modalities):
        raise RunDirError(f"{where}.modality_dims: must give a width for each of {modalities}")
    if not isinstance(encoders, dict) or not set(encoders) <= set(modalities):
        raise RunDirError(f"{where}.encoders: must map some of {modalities} to encoder specs")
    for name, spec in encoders.items():
        try:
            if not isinstance(spec, str):
                raise RunDirError("not text")
            encoder_kind(spec)
        except AlignRecError as exc:
            raise RunDirError(f"{where}.encoders[{name!r}]: {spec!r} is not an encoder spec ({exc})") from exc
        width = known_dim(spec)
        if not _int(dims[name]) or (width is not None and dims[name] != width):
            raise RunDirError(f"{where}.modality_dims[{name!r}]: {dims[name]!r}, but {spec!r} gives "
                              f"{width or 'its own'}-d vectors")
    support = content.get("new_items")
    if not isinstance(support, dict) or not isinstance(support.get("possible"), bool):
        raise RunDirError(f"{where}.new_items: must be an object with 'possible' true or false")
    mmenc = content.get("mmenc")
    if "mmenc" in files or (support["possible"] and feature is not None and is_stage1_feature(feature)):
        _check_mmenc_spec(mmenc, modalities, dims, content["dim"], f"{where}.mmenc")
        if mmenc.get("file") != files.get("mmenc"):
            raise RunDirError(f"{where}.mmenc.file is {mmenc.get('file')!r}, 'files' lists {files.get('mmenc')!r}")
    if not support["possible"]:
        return
    if feature is None or not encoders or support.get("modalities", sorted(encoders)) != sorted(encoders):
        raise RunDirError(f"{where}.new_items: 'possible' needs a feature, and its modalities must be those with "
                          f"an encoder ({sorted(encoders)})")
    if not all(_int(dims[m]) for m in modalities):
        raise RunDirError(f"{where}.modality_dims: new items need the width of each of {modalities}, got {dims}")
    if not is_stage1_feature(feature):
        total = sum(dims.values()) if feature == "concat" else dims.get(feature)
        if (feature != "concat" and modalities != [feature]) or total != content["dim"]:
            raise RunDirError(f"{where}: feature {feature!r} of width {content['dim']} does not match its "
                              f"modalities {dims}")


def _check_mmenc_spec(spec: Any, modalities: list[str], dims: dict[str, Any], out_dim: int, where: str) -> None:
    if not isinstance(spec, dict):
        raise RunDirError(f"{where}: must describe MMEnc (dims, modalities, architecture)")
    if spec.get("modalities") != modalities or spec.get("dims") != [dims[m] for m in modalities]:
        raise RunDirError(f"{where}: modalities {spec.get('modalities')!r} with dims {spec.get('dims')!r} do not "
                          f"match the content's {dims}")
    for key, kind in MMENC_ARCH.items():
        value = spec.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else (
            _int(value) if kind is int else isinstance(value, str))
        if key in spec and not ok:
            raise RunDirError(f"{where}.{key}: {value!r} is not a {kind.__name__}")
    if spec.get("out_dim", 256) != out_dim:
        raise RunDirError(f"{where}.out_dim: {spec.get('out_dim', 256)!r}, but the content space is {out_dim}-d")


def check_counts(manifest: dict[str, Any], removed: dict[str, np.ndarray], images: list[str | None],
                 path: Path) -> None:
    """The manifest's summary counts against the files: removed users and items, items with an image."""
    for key in ("users", "items"):
        count = manifest.get("removed", {}).get(key, len(removed[f"removed_{key}"]))
        if count != len(removed[f"removed_{key}"]):
            raise RunDirError(f"{path}: removed.{key} is {count!r}, removed_{key}.npy lists "
                              f"{len(removed[f'removed_{key}'])}")
    with_image = sum(p is not None for p in images)
    if manifest.get("images", {}).get("with_image", with_image) != with_image:
        raise RunDirError(f"{path}: images.with_image is {manifest['images']['with_image']!r}, items.parquet "
                          f"names {with_image} images")


def mmenc_arch(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: spec[k] for k in MMENC_ARCH if k in spec}


# --- files -------------------------------------------------------------------------------------------------------


def export_file(folder: Path, manifest: dict[str, Any], key: str, manifest_path: Path) -> Path:
    """The checked path of ``files[key]``: inside the folder, present, and with the SHA-256 the manifest
    records."""
    files = manifest["files"]
    path = inside(folder, files[key], f"{manifest_path}: files[{key!r}]")
    if not path.is_file():
        raise RunDirError(f"{path}: missing (listed in {manifest_path})")
    digest = sha256_file(path)
    if digest != manifest["sha256"][files[key]]:
        raise RunDirError(f"{path}: its SHA-256 differs from the one {manifest_path} records: the file changed "
                          "or is damaged since the export (export the run again)")
    return path


def _npy_header(handle: Any, size: int, where: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Shape, dtype, Fortran order and header length of the ``.npy`` stream in ``handle`` of ``size`` bytes,
    checked: no objects (pickle), and exactly as many data bytes as the shape needs."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if reader is None:
            raise ValueError(f"unknown .npy version {version}")
        shape, fortran, dtype = reader(handle)
    except Exception as exc:  # numpy raises ValueError, SyntaxError or EOFError for a damaged header
        raise RunDirError(f"{where}: not a readable .npy array ({type(exc).__name__}: {exc})") from exc
    if dtype.hasobject or dtype.fields is not None:
        raise RunDirError(f"{where}: holds {dtype} values (objects or records), not plain numbers")
    header = handle.tell()
    needed = math.prod(shape) * dtype.itemsize  # exact: a crafted shape cannot overflow into a plausible size
    if size - header != needed:
        state = "truncated" if size - header < needed else "longer than its header says"
        raise RunDirError(f"{where}: {state}: shape {list(shape)} of {dtype} needs {needed} bytes after the "
                          f"header, the file has {size - header}")
    return shape, dtype, fortran, header


def read_npy(path: Path) -> np.ndarray:
    """An array file, read without pickle after :func:`_npy_header`'s checks."""
    with open(path, "rb") as handle:
        _npy_header(handle, path.stat().st_size, str(path))
        handle.seek(0)
        try:
            return np.load(handle, allow_pickle=False)
        except Exception as exc:
            raise RunDirError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from exc


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """An uncompressed NumPy zip (``np.savez``): each member checked like :func:`read_npy`, CRCs verified."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                where = f"{path}: member {info.filename!r}"
                stored = info.compress_type == zipfile.ZIP_STORED and info.file_size == info.compress_size
                if not stored or not info.filename.endswith(".npy") or info.file_size > path.stat().st_size:
                    raise RunDirError(f"{where}: not an uncompressed .npy member of the file's size")
                with archive.open(info) as handle:
                    _npy_header(handle, info.file_size, where)
                with archive.open(info) as handle:  # read again from the start; the zip checks its CRC
                    arrays[info.filename[:-4]] = np.lib.format.read_array(handle, allow_pickle=False)
    except RunDirError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, a bad CRC, a truncated member, ...
        raise RunDirError(f"{path}: not a readable NumPy zip ({type(exc).__name__}: {exc})") from exc
    return arrays


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """A Parquet table, fully validated (e.g. UTF-8 of its strings, which pandas would decode only when used)."""
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        table.validate(full=True)
        frame = table.to_pandas()
    except Exception as exc:  # pyarrow raises its own ArrowInvalid, OSError, ... for a damaged file
        raise RunDirError(f"{path}: unreadable Parquet table ({type(exc).__name__}: {exc})") from exc
    if missing := [c for c in columns if c not in frame.columns]:
        raise RunDirError(f"{path}: missing column(s) {missing}")
    return frame


# --- contents ----------------------------------------------------------------------------------------------------


def index_array(value: np.ndarray, where: str, length: int | None = None, source: str = "") -> np.ndarray:
    """A 1-D integer array (of ``length``, which ``source`` gives), as int64."""
    if value.ndim != 1 or value.dtype.kind not in "iu" or (length is not None and len(value) != length):
        want = f"[{length}]" if length is not None else "1-D"
        raise RunDirError(f"{where}: expected {want} integers{source}, got shape {list(value.shape)} of "
                          f"{value.dtype}")
    return value.astype(np.int64)


def float_matrix(value: np.ndarray, where: str, rows: int, cols: int | None, source: str = "") -> np.ndarray:
    """A finite ``[rows, cols]`` floating matrix (the sizes ``source`` gives), as float32."""
    if value.ndim != 2 or value.dtype.kind != "f" or value.shape[0] != rows or (cols and value.shape[1] != cols):
        raise RunDirError(f"{where}: expected float [{rows}, {cols or 'd'}]{source}, got shape "
                          f"{list(value.shape)} of {value.dtype}")
    value = value.astype(np.float32)
    if not np.isfinite(value).all():
        bad = np.flatnonzero(~np.isfinite(value).all(1))
        raise RunDirError(f"{where}: NaN or inf in row(s) {bad[:5].tolist()}")
    return value


def check_history(indptr: np.ndarray, indices: np.ndarray, n_users: int, n_items: int, where_ptr: Path,
                  where_idx: Path) -> tuple[np.ndarray, np.ndarray]:
    indptr = index_array(indptr, str(where_ptr), n_users + 1, f" (one per user of {MANIFEST}, plus one)")
    indices = index_array(indices, str(where_idx))
    if indptr[0] != 0 or (np.diff(indptr) < 0).any() or indptr[-1] != len(indices):
        raise RunDirError(f"{where_ptr}: not a CSR row pointer for the {len(indices)} entries of {where_idx.name} "
                          "(it must start at 0, never decrease and end at that number)")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        bad = int(np.flatnonzero((indices < 0) | (indices >= n_items))[0])
        raise RunDirError(f"{where_idx}: entry {bad} is item index {int(indices[bad])}, outside 0..{n_items - 1} "
                          f"(the items of {MANIFEST})")
    return indptr, indices


def check_removed(value: np.ndarray, where: Path, n: int) -> np.ndarray:
    value = index_array(value, str(where))
    if len(value) and (value.min() < 0 or value.max() >= n or len(np.unique(value)) != len(value)):
        raise RunDirError(f"{where}: indices must be distinct and in 0..{n - 1} (the sizes of {MANIFEST})")
    return value


def id_column(frame: pd.DataFrame, column: str, rows: int, where: Path) -> np.ndarray:
    if len(frame) != rows:
        raise RunDirError(f"{where}: {len(frame)} rows, {MANIFEST} says {rows}")
    ids = frame[column].astype(str).to_numpy()
    if len(np.unique(ids)) != len(ids):
        values, counts = np.unique(ids, return_counts=True)
        raise RunDirError(f"{where}: {column} {values[counts > 1][0]!r} appears more than once")
    return ids


def count_column(frame: pd.DataFrame, column: str, expected: np.ndarray, where: Path, what: str) -> np.ndarray:
    """An integer column equal to ``expected`` (what the training history, ``train_indptr.npy`` and
    ``train_indices.npy``, implies)."""
    values = frame[column]
    if values.dtype.kind not in "iu":
        raise RunDirError(f"{where}: column {column} holds {values.dtype}, not integers")
    values = values.to_numpy(np.int64)
    if (values != expected).any():
        row = int(np.flatnonzero(values != expected)[0])
        raise RunDirError(f"{where}: row {row}: {column} is {values[row]}, but train_indptr.npy and "
                          f"train_indices.npy hold {expected[row]} {what}")
    return values


def text_column(frame: pd.DataFrame, column: str, where: Path) -> list[Any]:
    values = frame[column].tolist()
    bad = next((n for n, v in enumerate(values) if v is not None and not isinstance(v, str)
                and not (isinstance(v, float) and np.isnan(v))), None)
    if bad is not None:
        raise RunDirError(f"{where}: row {bad}: {column} is {values[bad]!r}, not text")
    return [v if isinstance(v, str) else None for v in values]


def item_images(folder: Path, names: list[str | None], ids: np.ndarray, removed: np.ndarray, where: Path
                ) -> tuple[list[str | None], list[str | None]]:
    """Each item's image: its real path inside ``folder/images`` and its media type from its first bytes; the
    items in ``removed`` (``removed_items.npy``) have none."""
    paths: list[str | None] = [None] * len(names)
    types: list[str | None] = [None] * len(names)
    gone = set(removed.tolist())
    for row, name in enumerate(names):
        if not name:
            continue
        at = f"{where}: row {row} (item {ids[row]!r}): image"
        if row in gone:
            raise RunDirError(f"{at}: removed_items.npy lists the item as removed, and a removed item keeps no "
                              "image")
        path, media_type = image_file(folder, name, at)
        paths[row], types[row] = str(path), media_type
    return paths, types


def image_file(folder: Path, name: str, where: str) -> tuple[Path, str]:
    """``folder/name`` confined to ``folder/images``, present and with JPEG, PNG, GIF or WebP bytes."""
    if not isinstance(name, str) or not name.startswith(f"{IMAGES}/"):
        raise RunDirError(f"{where}: {name!r} is not in the export's {IMAGES}/ folder")
    path = inside(folder / IMAGES, name.removeprefix(f"{IMAGES}/"), where)
    if not path.is_file():
        raise RunDirError(f"{where}: {name!r}: no such file in the export")
    media_type = file_media_type(path)
    if media_type is None:
        raise RunDirError(f"{where}: {name!r} is not a JPEG, PNG, GIF or WebP image (by its first bytes)")
    return path, media_type


def encoder_specs(folder: Path, content: dict[str, Any] | None, where: Path) -> dict[str, str]:
    """Each modality's encoder spec with the file or folder it names resolved inside ``folder/encoders``; a spec
    naming anything else is refused (a server loads only encoder files the export holds, or the packaged
    default weights)."""
    specs: dict[str, str] = {}
    for name, spec in ((content or {}).get("encoders") or {}).items():
        path = spec_path(spec)
        if path is None:
            specs[name] = spec
            continue
        at = f"{where}: content.encoders[{name!r}] = {spec!r}"
        if not path.startswith(f"{ENCODERS}/"):
            raise RunDirError(f"{at}: names a file outside the export's {ENCODERS}/ folder; a server loads only "
                              "encoder files that the export holds (export the run again)")
        real = inside(folder / ENCODERS, path.removeprefix(f"{ENCODERS}/"), at)
        if not real.exists():
            raise RunDirError(f"{at}: no such file in the export")
        specs[name] = with_spec_path(spec, str(real))
    return specs


def check_mmenc(weights: dict[str, np.ndarray], spec: dict[str, Any], where: Path) -> dict[str, np.ndarray]:
    """MMEnc's weights against the architecture the manifest describes: the same names and shapes, finite."""
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated, whatever the manifest says
            expected = MMEnc(list(spec["dims"]), **mmenc_arch(spec)).state_dict()
    except Exception as exc:  # MMEnc refuses e.g. heads that do not divide the width
        raise RunDirError(f"{where}: MMEnc cannot be built from {MANIFEST}'s content.mmenc ({exc})") from exc
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise RunDirError(f"{where}: does not hold the weights of the MMEnc {MANIFEST} describes: missing "
                          f"{missing[:5]}, unexpected {unexpected[:5]}")
    out: dict[str, np.ndarray] = {}
    for key, tensor in expected.items():
        value = weights[key]
        if value.dtype.kind != "f" or tuple(value.shape) != tuple(tensor.shape):
            raise RunDirError(f"{where}: {key!r} is {value.dtype} {list(value.shape)}, the MMEnc {MANIFEST} "
                              f"describes needs float {list(tensor.shape)}")
        if not np.isfinite(value).all():
            raise RunDirError(f"{where}: {key!r} holds NaN or inf")
        out[key] = value.astype(np.float32)
    return out
