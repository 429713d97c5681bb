"""Export a trained run for serving, in open formats only (NumPy, Parquet, JSON): no pickle, no training code.

::

    RUN_DIR/export/
      manifest.json         format name and version, model, sizes, how to score, the content space, encoders,
                            the SHA-256 of every file of ``files``
      users.parquet         user_id, n_train (row u = user index u)
      items.parquet         item_id, text, image (``images/<i>.<ext>`` or null), popularity (row i = item index i)
      images/               a copy (or hard link) of each item image that is a JPEG, PNG, GIF or WebP file
      encoders/             a copy of any weights file or model folder an encoder spec names (``efficientnet-lite0:
                            W.pth`` is recorded as ``efficientnet-lite0:encoders/encoder0.pth``)
      train_indptr.npy      each user's training items as CSR: train_indices[train_indptr[u]:train_indptr[u + 1]]
      train_indices.npy
      user_embeddings.npy   float32 [n_users, d]   scoring "dot": score(u, i) = user_embeddings[u] . item_embeddings[i]
      item_embeddings.npy   float32 [n_items, d]
      scores.npy            float32 [n_users, n_items], scoring "matrix" (a model without embeddings, small catalogues)
      item_content.npy      float32 [n_items, d_c]: the content space (the model's content input, else the dataset's
                            unified feature); absent when the dataset has no item features
      mmenc.npz             MMEnc weights, when the content space is MMEnc's unified feature (stage 1)
      removed_users.npy     indices a forget request removed (alignrec forget): their rows hold no embedding, text,
      removed_items.npy     image or content, and the service neither serves nor ranks them

The manifest says which encoder made each modality (from the dataset folder's ``encode_report.json``) and, with
``mmenc.npz``, how MMEnc is built, so that a server can put a new item in the content space (that part is
:mod:`alignrec.runs.export_content`). Every path in an export is relative to the export folder, so the folder is
self-contained: a server reads nothing outside it but the packaged default encoders
(:mod:`alignrec.serving.export_check` checks the whole export before a service starts). Every array is read
back with ``numpy.load(allow_pickle=False)``. The folder is written beside the run and renamed into place when
complete, so a reader sees the old export or the new one, never half of one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from alignrec.content.image import file_media_type
from alignrec.content.importers import content_for_dataset
from alignrec.data import Dataset
from alignrec.data.dataset import interaction_file, interaction_stem
from alignrec.errors import DataError, RunDirError
from alignrec.io import read_json, sha256_file, write_json
from alignrec.runs import rundir
from alignrec.runs.export_content import encode_report, save_array, write_content
from alignrec.runs.load import LoadedRun, load_run

EXPORT = rundir.EXPORT
MANIFEST = "manifest.json"
FORMAT = "alignrec-export"
FORMAT_VERSION = 2  # 2: images and encoder files inside the export, paths relative to it, SHA-256 of each file
IMAGES = "images"
IMAGE_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
MAX_SCORE_MATRIX = 20_000_000  # floats; a model without embeddings is exported as its full score matrix up to this


def export_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / EXPORT



def export_status(run_dir: str | Path) -> str | None:
    """Why ``run_dir``'s export must be (re)written (``"missing"``, ``"stale: ..."``), or None if it is current."""
    manifest = export_dir(run_dir) / MANIFEST
    if not manifest.is_file():
        return "missing"
    try:
        saved = read_json(manifest)
    except (OSError, ValueError):
        return "stale: unreadable manifest"
    if saved.get("format_version") != FORMAT_VERSION:
        return f"stale: format version {saved.get('format_version')}, this alignrec writes {FORMAT_VERSION}"
    best = Path(run_dir) / rundir.BEST
    if best.is_file() and saved.get("source", {}).get("best_sha256") != sha256_file(best):
        return f"stale: {rundir.BEST} changed since the export"
    return None


def export_run(run_dir: str | Path, image_dir: str | Path | None = None, image_pattern: str = "{item_id}.jpg"
               ) -> dict[str, Any]:
    """Load the finished run in ``run_dir`` and write ``run_dir/export``; return the manifest."""
    return write_export(load_run(run_dir), run_dir, image_dir, image_pattern)


def can_export() -> str | None:
    """None when the export can be written here, else what is missing."""
    if importlib.util.find_spec("pyarrow") is None:
        return "the export's item and user tables are Parquet files, which need pyarrow: pip install 'alignrec[serve]'"
    return None


def export_after_training(run: LoadedRun, run_dir: Path) -> None:
    """The export at the end of ``runs.train``: skipped with a warning when pyarrow is not installed."""
    missing = can_export()
    if missing:
        warnings.warn(f"{run_dir}: no serving export written ({missing}; then: alignrec export {run_dir})",
                      stacklevel=2)
        return
    write_export(run, run_dir)


def write_export(run: LoadedRun, run_dir: str | Path, image_dir: str | Path | None = None,
                 image_pattern: str = "{item_id}.jpg") -> dict[str, Any]:
    """Write ``run``'s export into ``run_dir/export`` (see the module docstring); return the manifest."""
    missing = can_export()
    if missing:
        raise RunDirError(f"{run_dir}: cannot export: {missing}")
    run_dir = Path(run_dir)
    dataset, model = run.dataset, run.model
    model.eval()
    tmp = Path(tempfile.mkdtemp(prefix=f".{EXPORT}.", dir=run_dir))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the export unreadable to a server run as another user
    try:
        files: dict[str, str] = {}
        save_array(tmp, files, "removed_users", dataset.removed_users.astype(np.int64))
        save_array(tmp, files, "removed_items", dataset.removed_items.astype(np.int64))
        scoring = _write_scoring(model, dataset, tmp, files)
        content = write_content(run, tmp, files)
        images = _write_tables(dataset, Path(run.config.data.path), tmp, files, image_dir, image_pattern)
        best = run_dir / rundir.BEST
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": run.config.model, "dataset": _dataset_name(dataset, Path(run.config.data.path)),
            "best_epoch": run.best_epoch,
            "users": dataset.n_users, "items": dataset.n_items, "scoring": scoring, "content": content,
            "images": images, "files": files,
            "removed": {"users": len(dataset.removed_users), "items": len(dataset.removed_items)},
            "source": {"best_sha256": sha256_file(best) if best.is_file() else None, "config": run.config.to_dict()},
            "sha256": {name: sha256_file(tmp / name) for name in files.values()},
        }
        write_json(tmp / MANIFEST, manifest)
        (tmp / MANIFEST).chmod(0o666 & ~umask)  # written through a private temporary file, like the folder
        _replace_dir(tmp, export_dir(run_dir))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return manifest


def _dataset_name(dataset: Dataset, folder: Path) -> str:
    """The interaction file's name (``ml-100k``), which names the data even in a pipeline's ``dataset`` folder."""
    try:
        return interaction_stem(interaction_file(folder))
    except DataError:
        return dataset.name


def _replace_dir(new: Path, target: Path) -> None:
    """Put the finished folder ``new`` at ``target`` (an old one is moved aside first, then removed)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_scoring(model: Any, dataset: Dataset, folder: Path, files: dict[str, str]) -> dict[str, Any]:
    with torch.no_grad():
        emb = model.embeddings()
        if emb is not None:
            users, items = (t.detach().float().cpu().numpy().copy() for t in emb)
            users[dataset.removed_users], items[dataset.removed_items] = 0.0, 0.0  # forgotten: nothing kept
            save_array(folder, files, "user_embeddings", users.astype(np.float32))
            save_array(folder, files, "item_embeddings", items.astype(np.float32))
            return {"kind": "dot", "dim": int(users.shape[1])}
        if dataset.n_users * dataset.n_items > MAX_SCORE_MATRIX:
            return {"kind": "none", "reason": f"model {model.name!r} has no embeddings and its score matrix "
                                              f"({dataset.n_users} x {dataset.n_items}) is too large to export"}
        rows = [model.score(torch.arange(s, min(s + 1024, dataset.n_users))).float().cpu().numpy()
                for s in range(0, dataset.n_users, 1024)]
    scores = np.concatenate(rows).astype(np.float32)
    scores[dataset.removed_users], scores[:, dataset.removed_items] = 0.0, 0.0
    save_array(folder, files, "scores", scores)
    return {"kind": "matrix"}


def _write_tables(dataset: Dataset, folder: Path, out: Path, files: dict[str, str], image_dir: str | Path | None,
                  image_pattern: str) -> dict[str, Any]:
    texts = [t or "" for t in dataset.item_text] if dataset.item_text is not None else [""] * dataset.n_items
    sources, source = _item_images(dataset, folder, image_dir, image_pattern)
    for i in dataset.removed_items:  # a forgotten item keeps its row (indices stay) but not its content
        texts[i], sources[i] = "", None
    images, not_images = _copy_images(sources, out)
    items = pd.DataFrame({"item_id": dataset.item_ids.astype(str), "text": texts, "image": images,
                          "popularity": dataset.item_popularity().astype(np.int64)})
    items.to_parquet(out / "items.parquet", index=False)
    files["items"] = "items.parquet"
    train = dataset.matrix("train")
    users = pd.DataFrame({"user_id": dataset.user_ids.astype(str), "n_train": np.diff(train.indptr).astype(np.int64)})
    users.to_parquet(out / "users.parquet", index=False)
    files["users"] = "users.parquet"
    save_array(out, files, "train_indptr", train.indptr.astype(np.int64))
    save_array(out, files, "train_indices", train.indices.astype(np.int64))
    return {"source": source, "with_image": sum(p is not None for p in images), "folder": IMAGES,
            "not_images": not_images}


def _copy_images(sources: list[str | None], out: Path) -> tuple[list[str | None], int]:
    """Each item's image as ``images/<index><ext>`` inside the export (a hard link where the file system allows,
    else a copy), and how many files were left out because their bytes are not a JPEG, PNG, GIF or WebP image."""
    names: list[str | None] = [None] * len(sources)
    left_out = 0
    for index, source in enumerate(sources):
        if source is None:
            continue
        media_type = file_media_type(source)
        if media_type is None:
            left_out += 1
            continue
        (out / IMAGES).mkdir(exist_ok=True)
        name = f"{IMAGES}/{index}{IMAGE_SUFFIX[media_type]}"
        target = out / name
        try:
            os.link(Path(source).resolve(), target)
        except OSError:  # another file system, or a file this user may not link to
            shutil.copyfile(source, target)
        names[index] = name
    return names, left_out


def _item_images(dataset: Dataset, folder: Path, image_dir: str | Path | None, image_pattern: str
                 ) -> tuple[list[str | None], dict[str, str] | None]:
    """Each item's image file (None when it has none): from ``image_dir`` if given, else from where the
    dataset's image encoding found them (``encode_report.json``), else the folder's ``item_images.tsv``."""
    if image_dir is None:
        recorded = next((r["image_source"] for r in encode_report(folder).values()
                         if isinstance(r, dict) and r.get("image_source")), None)
        if recorded and "image_dir" in recorded:
            image_dir, image_pattern = recorded["image_dir"], recorded.get("image_pattern", image_pattern)
        elif recorded and "file" in recorded:
            folder = Path(recorded["file"]).parent
    content = content_for_dataset(dataset, folder if folder.is_dir() else None, image_dir, image_pattern)
    paths = [str(p.resolve()) if p is not None and p.is_file() else None for p in content.images]
    return paths, content.report.get("image_source")
