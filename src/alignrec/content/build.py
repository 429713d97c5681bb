"""File-level steps shared by the CLI and the pipeline: derived dataset folders, encoding, pre-training outputs.

A *derived dataset folder* holds symbolic links to the source folder's files (no copies) plus the new feature
files, so :func:`alignrec.load_dataset` reads it like any dataset folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alignrec.config import DataConfig
from alignrec.content.encode import encode_images_cached, encode_texts_cached
from alignrec.content.importers import ItemContent
from alignrec.content.pretrain import PretrainConfig, PretrainResult, pretrain
from alignrec.content.registry import build_encoder, encoder_kind
from alignrec.data.dataset import CARD_SUFFIX, FEATURE_SUFFIX, Dataset, is_stage1_feature, without_unused_items
from alignrec.errors import ConfigError
from alignrec.io import atomic_path, write_json, write_text

log = logging.getLogger("alignrec.content")
UNIFIED = "unified"


@dataclass
class ContentConfig:
    """Which encoders turn raw item content into modality features: ``text`` and ``image`` are encoder specs
    (see :mod:`alignrec.content.registry`); images come from the folder's ``item_images.tsv`` or ``image_dir``
    with ``image_pattern``. ``cache_dir`` keeps per-item encodings (default: inside the work folder)."""

    text: str | None = None
    image: str | None = None
    image_dir: str | None = None
    image_pattern: str = "{item_id}.jpg"
    batch_size: int = 32
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        for kind in ("text", "image"):
            spec = getattr(self, kind)
            if spec and encoder_kind(spec) != kind:
                raise ConfigError(f"content.{kind}: {spec!r} is a {encoder_kind(spec)} encoder")
        if self.batch_size < 1:
            raise ConfigError(f"content.batch_size must be >= 1, got {self.batch_size}")

    def encoders(self) -> dict[str, str]:
        """Modality name -> encoder spec, for the encoders that are set."""
        return {kind: spec for kind, spec in (("text", self.text), ("image", self.image)) if spec}


def save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def derive_folder(source: str | Path, target: str | Path, skip_features: tuple[str, ...] = (UNIFIED,)) -> Path:
    """Link every file of ``source`` into ``target``, except ``<name>_feat.npy`` and its card ``<name>_feat.json``
    for names in ``skip_features``."""
    source, target = Path(source).resolve(), Path(target)
    if not source.is_dir():
        raise ConfigError(f"{source}: dataset folder not found")
    target.mkdir(parents=True, exist_ok=True)
    skip = {f"{name}{suffix}" for name in skip_features for suffix in (FEATURE_SUFFIX, CARD_SUFFIX)}
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name in skip:
            continue
        link = target / path.name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and link.resolve() == path:
                continue
            link.unlink()
        os.symlink(path, link)
    return target


def encode_content(content: ItemContent, out_dir: str | Path, encoders: dict[str, str],
                   cache_dir: str | Path | None = None, batch_size: int = 32, progress: bool = True
                   ) -> dict[str, Any]:
    """Encode ``content`` with ``encoders`` (modality name -> spec) into ``out_dir/<name>_feat.npy``.

    Also writes ``<name>_mask.npy`` (1 = present) and ``encode_report.json``; returns the report.
    """
    out = Path(out_dir)
    report: dict[str, Any] = {}
    for name, spec in encoders.items():
        kind = encoder_kind(spec)
        encoder = build_encoder(spec)
        cache = Path(cache_dir) / hashlib.sha1(encoder.name.encode()).hexdigest()[:12] if cache_dir else None
        if kind == "text":
            result = encode_texts_cached(content.texts, encoder, cache, max(batch_size, 64), progress)
        else:
            result = encode_images_cached(list(content.images), encoder, cache, batch_size, progress)
        save_npy(out / f"{name}{FEATURE_SUFFIX}", result.matrix)
        save_npy(out / f"{name}_mask.npy", result.mask.astype(np.uint8))
        report[name] = {**result.report, "spec": spec, "dim": int(result.matrix.shape[1]),
                        "not_in_data": content.report.get("items_not_in_data", 0)}
        if kind == "image":
            report[name]["image_source"] = content.report.get("image_source")
    write_json(out / "encode_report.json", report)
    return report


def pretrain_log_folder(name: str = UNIFIED) -> str:
    """Where ``alignrec pretrain`` keeps stage-1 feature ``name``'s checkpoint and log inside the output folder by
    default: ``pretrain`` for ``unified``, ``pretrain-<name>`` for a variant, so variants never overwrite it."""
    return "pretrain" if name == UNIFIED else f"pretrain-{name}"


def modality_features(dataset: Dataset) -> dict[str, np.ndarray]:
    """The dataset's modality matrices, without any previous stage-1 feature."""
    return {k: v for k, v in dataset.features.items() if not is_stage1_feature(k)}


def write_pretrain_outputs(result: PretrainResult, feature_dir: str | Path, log_dir: str | Path,
                           extra: dict[str, Any] | None = None, split: dict[str, Any] | None = None,
                           name: str = UNIFIED) -> Path:
    """``feature_dir/<name>_feat.npy`` (default ``unified``) and its card ``<name>_feat.json`` (atomic),
    ``log_dir/mmenc.pt``, ``pretrain_log.jsonl`` and ``pretrain.json``. ``split`` (the fingerprint and settings
    of the split that pre-training read) goes into ``pretrain.json``, and into the card when pre-training used
    interactions, so that loading the feature with another split is refused."""
    feature_dir, log_dir = Path(feature_dir), Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(log_dir / "mmenc.pt") as tmp:
        torch.save({"model": result.model.state_dict(), "config": result.config, "dims": result.model.dims}, tmp)
    write_text(log_dir / "pretrain_log.jsonl", "".join(json.dumps(row) + "\n" for row in result.history))
    uses_interactions = bool(result.config.get("collaborative")) or result.config.get("select") != "loss"
    target = feature_dir / f"{name}{FEATURE_SUFFIX}"
    card = feature_dir / f"{name}{CARD_SUFFIX}"
    if card.is_symlink():  # a derived folder's link to the source's card must not be written through
        card.unlink()
    write_json(card, {"made_by": "alignrec pretrain (MMEnc)", "uses_interactions": uses_interactions,
                      "split": split if uses_interactions else None, "pretrain": result.config,
                      "mmenc": str((log_dir / "mmenc.pt").resolve())})
    save_npy(target, result.unified)
    write_json(log_dir / "pretrain.json", {"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                                           "config": result.config, "unified": str(target),
                                           "shape": list(result.unified.shape), "split": split,
                                           "uses_interactions": uses_interactions, **(extra or {})})
    return target


def pretrain_dataset(dataset: Dataset, config: PretrainConfig, feature_dir: str | Path, log_dir: str | Path,
                     data_config: DataConfig, progress: bool = True, name: str = UNIFIED) -> Path:
    """Pre-train MMEnc on ``dataset``'s modality features and write the outputs as feature ``name``; return its
    file.

    ``data_config`` is how ``dataset`` was loaded: its split is recorded with the feature."""
    features = modality_features(dataset)
    selection = None
    if config.uses_interactions and data_config.k_core > 1 and not data_config.keep_filtered_items:
        selection = without_unused_items(dataset)  # what training will index (k-core drops the rest)
    result = pretrain(features, config, dataset if config.uses_interactions else None, progress, selection)
    return write_pretrain_outputs(result, feature_dir, log_dir, {"dataset": dataset.name,
                                                                "modalities": sorted(features)},
                                  dataset.split_card(data_config), name)
