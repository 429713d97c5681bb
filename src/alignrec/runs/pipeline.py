"""``alignrec run CONFIG``: import → encode → pretrain → train → evaluate from one config file.

Every step writes into ``workdir`` and records a fingerprint of its inputs; a step whose outputs exist and whose
fingerprint is unchanged is skipped ("up to date"). Run-time options (progress output, threads, device) are not
part of any fingerprint. The config is one typed tree (JSON or TOML)::

    workdir = "runs/ml100k"
    data = {DataConfig}                  # the source dataset folder and how to split it
    import = {ImportConfig}              # optional: raw tables / Book-Crossing -> a dataset folder
    content = {ContentConfig}            # optional: encoders for raw text / images
    pretrain = {PretrainConfig}          # MMEnc stage 1 (run when the dataset has modality features)
    model = "alignrec"; params = {...}; train = {TrainConfig}; topk = [...]
    baselines = ["lightgcn", ...]        # other models trained on the same split with default parameters

Stage 2 reads the dataset folder the pipeline built, which holds the unified feature: every model takes its
content from there by default (AlignRec prefers ``unified``), so any registered model can be the stage-2 model.
Each run's test split is read once, after its training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignrec.config import (
    DataConfig,
    RuntimeOptions,
    TrainConfig,
    apply_overrides,
    build_dataclass,
    load_config_file,
)
from alignrec.content.build import ContentConfig, derive_folder, encode_content, modality_features, pretrain_dataset
from alignrec.content.importers import ImportConfig, content_for_dataset, run_import
from alignrec.content.pretrain import PretrainConfig
from alignrec.data import concat_normalised, load_dataset
from alignrec.data.dataset import FEATURE_SUFFIX
from alignrec.errors import ConfigError
from alignrec.evaluation.feature_metrics import zero_shot
from alignrec.io import file_stamps, fingerprint, read_json, write_json
from alignrec.models import model_class, resolve_params
from alignrec.runs import rundir
from alignrec.runs.config import DEFAULT_TOPK, RunConfig, drop_legacy_runtime
from alignrec.runs.train import train
from alignrec.training import configure_cpu

Log = Callable[[str], Any]


@dataclass
class PipelineConfig:
    """The whole pipeline, one typed tree; see the module docstring."""

    workdir: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    import_: ImportConfig | None = field(default=None, metadata={"key": "import"})
    content: ContentConfig = field(default_factory=ContentConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    model: str = "alignrec"
    params: Any = None
    train: TrainConfig = field(default_factory=TrainConfig)
    topk: list[int] = field(default_factory=lambda: list(DEFAULT_TOPK))
    baselines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.workdir:
            raise ConfigError("the pipeline config needs a 'workdir'")
        if not self.data.path:
            raise ConfigError("the pipeline config needs 'data.path'")
        for name in self.baselines:
            model_class(name)  # an unknown model fails before any work
        self.params = resolve_params(self.model, self.params)

    def run_config(self, data: DataConfig) -> RunConfig:
        return RunConfig(data=data, model=self.model, params=self.params, train=self.train, topk=self.topk)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "pipeline config") -> PipelineConfig:
        raw = dict(raw)
        if isinstance(raw.get("pretrain"), dict):  # configs written when threads was a pre-training setting
            raw["pretrain"] = {k: v for k, v in raw["pretrain"].items() if k != "threads"}
        return build_dataclass(cls, drop_legacy_runtime(raw), where)  # type: ignore[no-any-return]

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
        return cls.from_dict(apply_overrides(load_config_file(path), overrides or []), str(path))


def _fresh(stamp_file: Path, print_: str, outputs: list[Path]) -> bool:
    if not stamp_file.is_file() or not all(p.exists() for p in outputs):
        return False
    try:
        return read_json(stamp_file).get("fingerprint") == print_
    except (OSError, ValueError):
        return False


def run_pipeline(config: PipelineConfig, runtime: RuntimeOptions | None = None, log: Log = print) -> dict[str, Any]:
    """Run every step of ``config``; return the evaluation summary (also written to ``workdir/results.json``)."""
    runtime = runtime or RuntimeOptions()
    configure_cpu(runtime.threads)
    work = Path(config.workdir)
    source = _import_step(config.import_, Path(config.data.path), work, log)
    folder = derive_folder(source, work / "dataset")
    data = dataclasses.replace(config.data, path=str(folder), features=None)
    _encode_step(config.content, data, folder, work, runtime, log)
    _pretrain_step(config.pretrain, data, folder, work, runtime, log)
    run_cfg = config.run_config(data)
    baselines = {name: _train_step(run_cfg.with_model(name), folder, work / "baselines" / name, runtime, log,
                                   f"train {name}") for name in config.baselines}
    metrics = _train_step(run_cfg, folder, work, runtime, log)
    return _evaluate_step(data, metrics, baselines, work, log)


def _import_step(spec: ImportConfig | None, source: Path, work: Path, log: Log) -> Path:
    if spec is None:
        return source
    out = work / "imported"
    print_ = fingerprint(dataclasses.asdict(spec), str(source), file_stamps(spec.input_files(source)))
    stamp = out / "import.stamp.json"
    if _fresh(stamp, print_, [out]):
        log(f"import: up to date ({out})")
        return out
    report = run_import(spec, source, out)
    write_json(stamp, {"fingerprint": print_})
    log(f"import: {report.get('items')} items, {report.get('interactions')} interactions -> {out}")
    return out


def _encode_step(content: ContentConfig, data: DataConfig, folder: Path, work: Path, runtime: RuntimeOptions,
                 log: Log) -> None:
    encoders = content.encoders()
    if not encoders:
        return
    dataset = load_dataset(dataclasses.replace(data, features=[], keep_filtered_items=True), use_cache=False)
    items = content_for_dataset(dataset, folder, content.image_dir, content.image_pattern).only(dataset.used_items())
    images = [p for p in items.images if p is not None and p.is_file()]
    print_ = fingerprint(encoders, items.item_ids, items.texts, [str(p) for p in items.images], file_stamps(images))
    outputs = [folder / f"{name}{FEATURE_SUFFIX}" for name in encoders]
    stamp = work / "encode.stamp.json"
    if _fresh(stamp, print_, outputs):
        log("encode: up to date")
        return
    cache = Path(content.cache_dir or work / "cache" / "encode")
    for out in outputs:  # an old link to a source feature of the same name must not be overwritten
        if out.is_symlink():
            out.unlink()
    report = encode_content(items, folder, encoders, cache, content.batch_size, runtime.progress)
    write_json(stamp, {"fingerprint": print_})
    for name, rep in report.items():
        log(f"encode {name}: {rep['present']}/{rep['items']} items present ({rep['no_input']} without input, "
            f"{rep['not_in_data']} of them outside the filtered data; {rep['unreadable']} unreadable, "
            f"{rep['from_cache']} from cache)")


def _pretrain_step(cfg: PretrainConfig, data: DataConfig, folder: Path, work: Path, runtime: RuntimeOptions,
                   log: Log) -> None:
    inputs = [p for p in folder.glob(f"*{FEATURE_SUFFIX}") if p.name != f"unified{FEATURE_SUFFIX}"]
    if not inputs:
        log("pretrain: skipped (the dataset has no modality features)")
        return
    dataset = load_dataset(dataclasses.replace(data, features=[p.name[: -len(FEATURE_SUFFIX)] for p in inputs],
                                               keep_filtered_items=True))  # the unified file has every catalogue row
    split = dataset.split_fingerprint() if cfg.uses_interactions else None  # the same record the feature card keeps
    print_ = fingerprint(dataclasses.asdict(cfg), split, file_stamps(inputs))
    target = folder / f"unified{FEATURE_SUFFIX}"
    stamp = work / "pretrain.stamp.json"
    if _fresh(stamp, print_, [target, work / "pretrain" / "mmenc.pt"]):
        log("pretrain: up to date")
        return
    pretrain_dataset(dataset, cfg, folder, work / "pretrain", data, runtime.progress)
    write_json(stamp, {"fingerprint": print_})
    log(f"pretrain: wrote {target}")


def _train_step(run_cfg: RunConfig, folder: Path, work: Path, runtime: RuntimeOptions, log: Log,
                step: str = "train") -> dict[str, Any]:
    print_ = fingerprint(run_cfg.to_dict(), file_stamps(sorted(folder.glob(f"*{FEATURE_SUFFIX}"))))
    run_dir = work / "run"
    stamp = work / "train.stamp.json"
    if _fresh(stamp, print_, [run_dir / rundir.METRICS]):
        log(f"{step}: up to date")
        return rundir.read_metrics(run_dir)
    train(run_cfg, run_dir=run_dir, overwrite=True, runtime=runtime)
    write_json(stamp, {"fingerprint": print_})
    log(f"{step}: {run_dir}")
    return rundir.read_metrics(run_dir)


def _evaluate_step(data: DataConfig, metrics: dict[str, Any], baselines: dict[str, dict[str, Any]], work: Path,
                   log: Log) -> dict[str, Any]:
    dataset = load_dataset(data)
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
