"""``alignrec run CONFIG``: import → encode → pretrain → train → evaluate from one JSON config.

Every step writes into ``workdir`` and records a fingerprint of its inputs; a step whose outputs exist and
whose fingerprint is unchanged is skipped. Config sections (all but ``data`` and ``workdir`` optional)::

    {"workdir": "runs/ml100k", "data": {DataConfig}, "import": {"format": "tables" | "book-crossing", ...},
     "content": {"text": "minilm", "image": "efficientnet-lite0", "image_dir": "...", "image_pattern": "{item_id}.jpg",
                 "batch_size": 32},
     "pretrain": {PretrainConfig}, "model": "alignrec", "params": {...}, "train": {TrainConfig}, "topk": [...],
     "baselines": ["lightgcn", ...]}

Without ``content`` encoders the dataset's own ``*_feat.npy`` files are the modalities. Stage 2 is trained on the
unified feature unless ``params.feature`` names another one. ``baselines`` are other registered models trained
with default parameters and the same data and training settings, for a side-by-side table. The test split of
each run is read once, after its training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from alignrec.config import DataConfig, RunConfig, TrainConfig, build_dataclass
from alignrec.content.build import derive_folder, encode_content, file_stamp, modality_features, pretrain_dataset
from alignrec.content.importers import content_for_dataset, import_book_crossing, import_tables
from alignrec.content.pretrain import PretrainConfig
from alignrec.content.zeroshot import zero_shot
from alignrec.data import load_dataset
from alignrec.data.dataset import FEATURE_SUFFIX, concat_normalised
from alignrec.errors import ConfigError
from alignrec.io import read_json, write_json
from alignrec.models import model_class
from alignrec.training import rundir, train

SECTIONS = {"workdir", "data", "import", "content", "pretrain", "model", "params", "train", "topk", "baselines"}
CONTENT_KEYS = {"text", "image", "image_dir", "image_pattern", "batch_size", "cache_dir"}


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _fresh(stamp_file: Path, fingerprint: str, outputs: list[Path]) -> bool:
    if not stamp_file.is_file() or not all(p.exists() for p in outputs):
        return False
    try:
        return read_json(stamp_file).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


def load_pipeline_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the pipeline config ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the pipeline config must be a JSON object")
    unknown = set(raw) - SECTIONS
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; known: {sorted(SECTIONS)}")
    for key in ("workdir", "data"):
        if key not in raw:
            raise ConfigError(f"{path}: the pipeline config needs a {key!r} section")
    bad = set(raw.get("content", {})) - CONTENT_KEYS
    if bad:
        raise ConfigError(f"{path}: unknown content key(s) {sorted(bad)}; known: {sorted(CONTENT_KEYS)}")
    baselines = raw.get("baselines", [])
    if not isinstance(baselines, list) or not all(isinstance(b, str) for b in baselines):
        raise ConfigError(f"{path}: 'baselines' must be a list of model names, got {baselines!r}")
    return raw


def run_pipeline(raw: dict[str, Any], progress: bool = True, log: Any = print) -> dict[str, Any]:
    """Run every step of the pipeline config ``raw``; return the evaluation summary (also ``results.json``)."""
    work = Path(raw["workdir"])
    data = build_dataclass(DataConfig, dict(raw["data"]), "data")
    pre_cfg = build_dataclass(PretrainConfig, dict(raw.get("pretrain", {})), "pretrain")
    train_cfg = build_dataclass(TrainConfig, {"progress": progress, **raw.get("train", {})}, "train")
    params = {"feature": "unified", **raw.get("params", {})}
    run_cfg = RunConfig(data=data, model=raw.get("model", "alignrec"), params=params, train=train_cfg,
                        topk=raw.get("topk", [5, 10, 20, 50]))
    for name in [run_cfg.model, *raw.get("baselines", [])]:
        model_class(name)  # an unknown model fails before any encoding
    source = _import_step(raw.get("import"), Path(data.path), work, log)
    folder = derive_folder(source, work / "dataset")
    data_cfg = dataclasses.replace(data, path=str(folder), features=None)
    _encode_step(raw.get("content", {}), data_cfg, folder, work, progress, log)
    _pretrain_step(pre_cfg, data_cfg, folder, work, progress, log)
    run_cfg = dataclasses.replace(run_cfg, data=data_cfg)
    baselines = {}
    for name in raw.get("baselines", []):
        base_cfg = dataclasses.replace(run_cfg, model=name, params={})
        baselines[name] = _train_step(base_cfg, folder, work / "baselines" / name, log, f"train {name}")
    metrics = _train_step(run_cfg, folder, work, log)
    return _evaluate_step(data_cfg, metrics, baselines, work, log)


def _import_step(spec: dict[str, Any] | None, source: Path, work: Path, log: Any) -> Path:
    if not spec:
        return source
    spec = dict(spec)
    fmt = spec.pop("format", None)
    out = work / "imported"
    inputs = [p for p in (Path(str(v)) for v in spec.values() if isinstance(v, str)) if p.is_file()]
    if fmt == "book-crossing":
        inputs = [p for p in source.glob("BX-*")]
    fingerprint = _fingerprint(fmt, spec, str(source), file_stamp(inputs))
    stamp = out / "import.stamp.json"
    if _fresh(stamp, fingerprint, [out]):
        log(f"import: up to date ({out})")
        return out
    if fmt == "book-crossing":
        report = import_book_crossing(source, out, **spec)
    elif fmt == "tables":
        report = import_tables(out_dir=out, **spec)
    else:
        raise ConfigError(f"import.format must be 'tables' or 'book-crossing', got {fmt!r}")
    write_json(stamp, {"fingerprint": fingerprint})
    log(f"import: {report.get('items')} items, {report.get('interactions')} interactions -> {out}")
    return out


def _encode_step(content: dict[str, Any], data_cfg: DataConfig, folder: Path, work: Path, progress: bool,
                 log: Any) -> None:
    encoders = {k: content[k] for k in ("text", "image") if content.get(k)}
    if not encoders:
        return
    dataset = load_dataset(dataclasses.replace(data_cfg, features=[]), use_cache=False)
    pattern = content.get("image_pattern", "{item_id}.jpg")
    items = content_for_dataset(dataset, folder, content.get("image_dir"), pattern)
    images = [p for p in items.images if p is not None and p.is_file()]
    fingerprint = _fingerprint(encoders, items.item_ids, items.texts, [str(p) for p in items.images],
                               file_stamp(images) if images else "")
    outputs = [folder / f"{name}{FEATURE_SUFFIX}" for name in encoders]
    stamp = work / "encode.stamp.json"
    if _fresh(stamp, fingerprint, outputs):
        log("encode: up to date")
        return
    cache = Path(content.get("cache_dir") or work / "cache" / "encode")
    for out in outputs:  # an old link to a source feature of the same name must not be overwritten
        if out.is_symlink():
            out.unlink()
    report = encode_content(items, folder, encoders, cache, int(content.get("batch_size", 32)), progress)
    write_json(stamp, {"fingerprint": fingerprint})
    for name, rep in report.items():
        log(f"encode {name}: {rep['present']}/{rep['items']} items present ({rep['no_input']} without input, "
            f"{rep['unreadable']} unreadable, {rep['from_cache']} from cache)")


def _pretrain_step(cfg: PretrainConfig, data_cfg: DataConfig, folder: Path, work: Path, progress: bool,
                   log: Any) -> None:
    inputs = [p for p in folder.glob(f"*{FEATURE_SUFFIX}") if p.name != f"unified{FEATURE_SUFFIX}"]
    data_part = dataclasses.asdict(data_cfg) if cfg.uses_interactions else None
    fingerprint = _fingerprint(dataclasses.asdict(cfg), data_part, file_stamp(inputs) if inputs else "")
    target = folder / f"unified{FEATURE_SUFFIX}"
    stamp = work / "pretrain.stamp.json"
    if _fresh(stamp, fingerprint, [target, work / "pretrain" / "mmenc.pt"]):
        log("pretrain: up to date")
        return
    dataset = load_dataset(dataclasses.replace(data_cfg, features=[p.name[: -len(FEATURE_SUFFIX)] for p in inputs]))
    pretrain_dataset(dataset, cfg, folder, work / "pretrain", progress)
    write_json(stamp, {"fingerprint": fingerprint})
    log(f"pretrain: wrote {target}")


def _train_step(run_cfg: RunConfig, folder: Path, work: Path, log: Any, step: str = "train") -> dict[str, Any]:
    features = sorted(folder.glob(f"*{FEATURE_SUFFIX}"))
    fingerprint = _fingerprint(run_cfg.to_dict(), file_stamp(features))
    run_dir = work / "run"
    stamp = work / "train.stamp.json"
    if _fresh(stamp, fingerprint, [run_dir / rundir.METRICS]):
        log(f"{step}: up to date")
        return read_json(run_dir / rundir.METRICS)
    train(run_cfg, run_dir=run_dir, overwrite=True)
    write_json(stamp, {"fingerprint": fingerprint})
    log(f"{step}: {run_dir}")
    return read_json(run_dir / rundir.METRICS)


def _evaluate_step(data_cfg: DataConfig, metrics: dict[str, Any], baselines: dict[str, dict[str, Any]], work: Path,
                   log: Any) -> dict[str, Any]:
    dataset = load_dataset(data_cfg)
    feats = modality_features(dataset)
    rows = {name: feats[name] for name in sorted(feats)}
    if len(feats) > 1:
        rows["concat"] = concat_normalised([feats[k] for k in sorted(feats)])
    if "unified" in dataset.features:
        rows["unified"] = dataset.features["unified"]
    zero = {name: {part: zero_shot(m, dataset, part, (10, 20)) for part in ("valid", "test")}
            for name, m in rows.items()}
    summary = {"zero_shot": zero, "stage2": metrics, "baselines": baselines}
    write_json(work / "results.json", summary)
    for name, parts in zero.items():
        log(f"zero-shot {name}: test recall@20 {parts['test']['recall@20']:.4f} ndcg@20 {parts['test']['ndcg@20']:.4f}")
    for name, m in {**baselines, metrics.get("model", "stage 2"): metrics}.items():
        log(f"{name}: test recall@20 {m['test'].get('recall@20', float('nan')):.4f}")
    return summary
