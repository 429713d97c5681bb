"""Speed and peak memory of the public reference implementations, side by side with ours.

The reference implementations are the AlignRec paper authors' code (Liu et al., "AlignRec: Aligning and
Training in Multimodal Recommendations", CIKM 2024; GitHub sjtulyf123/AlignRec_CIKM24) and the MMRec toolbox
(Zhou et al.; GitHub enoche/MMRec). None of their code lives in this repository: get each repository yourself
(a clone, an extracted archive, or a bare git directory), pass its path, and this script copies it into a
temporary directory, applies the small patches listed in ``PATCHES`` (device placement, and one SciPy API
rename; never the math) and runs it there on a temporary view of the dataset (symlinks), so nothing is written
next to the data.

Measured per model, each in its own process: median seconds per training epoch (the model's
``pre_epoch_processing`` plus the whole batch loop, negative sampling included), median seconds per full
evaluation of the test split and of the valid split (``Trainer.evaluate``), and peak RSS. The timings come from
wrapping their ``Trainer`` methods, not from their log lines: their ``epoch N evaluating [time: ...]`` line only
covers the validation pass (the test pass that follows each epoch is not timed), and their ``training [time:
...]`` line disappears for models whose loss is a tuple. The logged times are still parsed and kept in the JSON
(``logged_*``) as a cross-check. Their trainer evaluates valid and test after every epoch; early stopping is set
beyond ``--epochs`` so every run lasts exactly ``--epochs`` epochs. Each model's hyper-parameter grid is cut to
its first point (their configs list grids; ``--set MODEL:key=value`` picks another point, e.g.
``--set LightGCN:n_layers=2`` to match our LightGCN's default, as MMRec's grid starts at 1 layer).

AlignRec runs in its "no stage-1 pretraining" setting: its model reads a single item feature (``v_feat``, the file
``image_feat.npy`` under ``--multimodal_data_dir``/<dataset>_<dir name>/), so the script writes the
concatenation [image_feat | text_feat] there, as the authors' code expects for their own fused features.

Example (clone the two repositories anywhere first; REFS is that folder)::

    python benchmarks/reference_speed.py ../shared/data/amazon-scientific \\
        --alignrec-code REFS/AlignRec_CIKM24 --mmrec-code REFS/MMRec \\
        --epochs 15 --threads 2 --ours --out benchmarks/results/reference-speed-amazon-scientific
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULT_MARK = "REFERENCE_SPEED_RESULT "
OURS = {"ALIGNREC": "alignrec", "LightGCN": "lightgcn", "FREEDOM": "freedom"}
IMPLEMENTATIONS = {"alignrec-authors": "AlignRec_CIKM24 (Liu et al.)", "mmrec": "MMRec (Zhou et al.)"}
DEFAULT_MODELS = ["alignrec-authors:ALIGNREC", "mmrec:LightGCN", "mmrec:FREEDOM"]
# Extra command-line flags for their main.py; the authors' demo script (src/scripts.sh) runs ALIGNREC so.
MODEL_FLAGS: dict[str, list[str]] = {"ALIGNREC": ["--ui_cosine_loss"]}


@dataclass(frozen=True)
class Patch:
    implementation: str
    path: str
    old: str
    new: str
    reason: str
    needed: Callable[[], bool] = lambda: True


PATCHES = [
    Patch("alignrec-authors", "src/models/alignrec.py", "mm_adj.cuda()", "mm_adj.to(self.device)",
          "the item-item kNN graph was moved to CUDA unconditionally; use the configured device"),
    Patch("alignrec-authors", "src/utils/utils.py", "torch.zeros(num_nodes,dtype=edge_weight.dtype).cuda()",
          "torch.zeros(num_nodes, dtype=edge_weight.dtype, device=edge_weight.device)",
          "the degree vector of the kNN graph's Laplacian was created on CUDA; create it beside its edges"),
]


def scipy_lacks_dok_update() -> bool:
    import scipy.sparse

    return not hasattr(scipy.sparse.dok_matrix, "_update")


PATCHES += [Patch("mmrec", path, "A._update(data_dict)", "A.update(data_dict)",
                  "SciPy >= 1.12 dropped the private dok_matrix._update; its public update fills the same dict",
                  needed=scipy_lacks_dok_update) for path in ("src/models/lightgcn.py", "src/models/freedom.py")]
# Not code patches but run-time shims, both in ``install_shims``: when torchvision is missing a stub module is
# registered for it (their utils/data_utils.py imports it for raw-image transforms that feature-based runs never
# call; the stub raises if called), and NumPy >= 1.24's removed aliases ``np.float``/``np.int`` (MMRec's
# utils/metrics.py uses ``np.float``) are set back to the builtins they always were. ``use_gpu: False`` is passed
# in their config dict.


def extract(code: str, dest: Path) -> str:
    """Copy a checkout or a (bare) git directory into ``dest``; return its commit when known."""
    src = Path(code)
    git_dir = src / ".git" if (src / ".git").exists() else src
    commit = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    if (src / "src" / "main.py").is_file():
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".git"))
    else:
        archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD"], check=True,
                                 capture_output=True).stdout
        dest.mkdir(parents=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit or "unknown"


def apply_patches(implementation: str, root: Path) -> list[str]:
    applied = []
    for patch in PATCHES:
        if patch.implementation != implementation or not patch.needed():
            continue
        file = root / patch.path
        text = file.read_text()
        if patch.old not in text:
            raise SystemExit(f"patch no longer applies to {patch.path}: {patch.old!r}")
        file.write_text(text.replace(patch.old, patch.new))
        applied.append(f"{patch.path}: {patch.reason}")
    return applied


def stage_data(data: Path, dest: Path) -> Path:
    """Symlink the dataset's files into ``dest/<name>/`` so caches the models write stay in ``dest``."""
    view = dest / data.name
    view.mkdir(parents=True)
    for file in data.iterdir():
        (view / file.name).symlink_to(file.resolve())
    return view


def stage_concat_features(data: Path, dest: Path) -> str:
    """Write [image | text] as the single item feature the authors' code reads; return --multimodal_data_dir."""
    folder = dest / "concat_image_text"
    feats = [np.load(data / name) for name in ("image_feat.npy", "text_feat.npy")]
    (folder / f"{data.name}_{folder.name}").mkdir(parents=True)
    np.save(folder / f"{data.name}_{folder.name}" / "image_feat.npy", np.concatenate(feats, axis=1).astype(np.float32))
    return str(folder) + "/"


def install_shims() -> None:
    for name, builtin in (("float", float), ("int", int)):
        if name not in np.__dict__:
            setattr(np, name, builtin)
    stub_torchvision()


def stub_torchvision() -> None:
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass

    def unavailable(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("torchvision is not installed; raw-image transforms are unavailable")

    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.pad = functional.resize = transforms.Compose = unavailable
    transforms.functional = functional
    root = types.ModuleType("torchvision")
    root.transforms = transforms
    sys.modules.update({"torchvision": root, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})


def parse_sets(sets: list[str], model: str) -> dict:
    out = {}
    for item in sets:
        name, _, assignment = item.partition(":")
        key, _, value = assignment.partition("=")
        if name == model:
            import yaml

            out[key] = yaml.safe_load(value)
    return out


def config_dict(data: Path, staged: Path, model: str, epochs: int, sets: list[str]) -> dict:
    settings = {
        "use_gpu": False, "data_path": str(staged.parent) + "/", "epochs": epochs, "stopping_step": epochs + 1,
        "eval_step": 1, "USER_ID_FIELD": "userID", "ITEM_ID_FIELD": "itemID", "TIME_FIELD": "timestamp",
        "inter_file_name": f"{data.name}.inter", "vision_feature_file": "image_feat.npy",
        "text_feature_file": "text_feat.npy", "field_separator": "\t", "log_file_name": "reference_speed.log",
    }
    settings.update(parse_sets(sets, model))
    return settings


class Timings:
    """Wraps their Trainer so each epoch's training pass and each evaluation call are timed."""

    def __init__(self) -> None:
        self.train: list[float] = []
        self.evals: dict[str, list[float]] = {"valid": [], "test": []}
        self.logged: dict[str, list[float]] = {"train": [], "valid": []}
        self._splits: dict[int, str] = {}
        self._epoch_start = 0.0

    def install(self, trainer_cls: type, config_cls: type, settings: dict) -> None:
        init, train_epoch, evaluate = trainer_cls.__init__, trainer_cls._train_epoch, trainer_cls.evaluate
        config_init = config_cls.__init__
        timings = self

        def new_init(trainer: object, config: object, model: object, *args: object, **kwargs: object) -> None:
            init(trainer, config, model, *args, **kwargs)
            # added here, after their init_logger: a root handler added earlier would make its basicConfig a no-op
            logging.getLogger().addHandler(LoggedTimes(timings.logged))
            pre = model.pre_epoch_processing

            def timed_pre() -> object:
                timings._epoch_start = time.perf_counter()
                return pre()

            model.pre_epoch_processing = timed_pre

        def new_train_epoch(trainer: object, *args: object, **kwargs: object) -> object:
            out = train_epoch(trainer, *args, **kwargs)
            timings.train.append(time.perf_counter() - timings._epoch_start)
            return out

        def new_evaluate(trainer: object, eval_data: object, *args: object, **kwargs: object) -> object:
            split = timings._splits.setdefault(id(eval_data), "valid" if not timings._splits else "test")
            start = time.perf_counter()
            out = evaluate(trainer, eval_data, *args, **kwargs)
            timings.evals[split].append(time.perf_counter() - start)
            return out

        def new_config_init(config: object, model: str, dataset: str, config_dict: dict | None = None,
                            *args: object) -> None:
            config_init(config, model, dataset, {**(config_dict or {}), **settings}, *args)
            first_grid_point(config.final_config_dict)

        trainer_cls.__init__, trainer_cls._train_epoch, trainer_cls.evaluate = new_init, new_train_epoch, new_evaluate
        config_cls.__init__ = new_config_init


def first_grid_point(config: dict) -> None:
    """Cut every hyper-parameter list to its first value, so their grid search runs one configuration."""
    for key in config["hyper_parameters"]:
        value = config.get(key)
        config[key] = value[:1] if isinstance(value, list) else [value]


class LoggedTimes(logging.Handler):
    """Collects the times their trainer writes in its own log lines (a cross-check of the wrapped timings)."""

    PATTERNS = {"train": re.compile(r"epoch \d+ training \[time: ([\d.]+)s"),
                "valid": re.compile(r"epoch \d+ evaluating \[time: ([\d.]+)s")}

    def __init__(self, logged: dict[str, list[float]]) -> None:
        super().__init__(logging.INFO)
        self.logged = logged

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for name, pattern in self.PATTERNS.items():
            if match := pattern.search(message):
                self.logged[name].append(float(match.group(1)))


def run_reference(args: argparse.Namespace, implementation: str, model: str) -> dict:
    """Runs inside the child process: stage code and data, train ``args.epochs`` epochs, return the row."""
    code = args.alignrec_code if implementation == "alignrec-authors" else args.mmrec_code
    if not code:
        raise SystemExit(f"--{'alignrec' if implementation == 'alignrec-authors' else 'mmrec'}-code is required")
    data = Path(args.data).resolve()
    with tempfile.TemporaryDirectory(prefix="reference_speed_") as tmp:
        root = Path(tmp) / "code"
        commit = extract(code, root)
        patches = apply_patches(implementation, root)
        staged = stage_data(data, Path(tmp) / "data")
        settings = config_dict(data, staged, model, args.epochs, args.set)
        flags = ["--model", model, "--dataset", data.name] + MODEL_FLAGS.get(model, [])
        if implementation == "alignrec-authors":
            flags += ["--multimodal_data_dir", stage_concat_features(data, Path(tmp) / "features")]
        timings = train_reference(root / "src", flags, settings, args.threads)
    return row(IMPLEMENTATIONS[implementation], model, args.threads, timings) | {"commit": commit, "patches": patches}


def train_reference(src: Path, flags: list[str], settings: dict, threads: int) -> Timings:
    """Run their own main.py (so its argparse defaults apply) with ``settings`` merged into its config dict."""
    import runpy

    import torch

    torch.set_num_threads(threads)
    install_shims()
    os.chdir(src)  # their Config reads ./configs and their logger writes ./log
    sys.path.insert(0, str(src))
    from common.trainer import Trainer
    from utils.configurator import Config

    timings = Timings()
    timings.install(Trainer, Config, settings)
    sys.argv = ["main.py", *flags]
    runpy.run_path(str(src / "main.py"), run_name="__main__")
    return timings


def median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def row(implementation: str, model: str, threads: int, timings: Timings) -> dict:
    import torch

    return {
        "implementation": implementation, "model": model, "threads": torch.get_num_threads(),
        "requested_threads": threads, "epochs": len(timings.train),
        "train_seconds_per_epoch_median": median(timings.train),
        "eval_seconds_median": median(timings.evals["test"]),
        "valid_eval_seconds_median": median(timings.evals["valid"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "train_seconds": timings.train, "test_eval_seconds": timings.evals["test"],
        "valid_eval_seconds": timings.evals["valid"],
        "logged_train_seconds": timings.logged["train"], "logged_valid_seconds": timings.logged["valid"],
    }


def child(command: list[str], threads: int, mark: str = RESULT_MARK) -> dict:
    """Run one measurement in a fresh process; its result is the last stdout line starting with ``mark``."""
    env = os.environ | {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = (proc.stdout + proc.stderr).splitlines()
    results = [line.removeprefix(RESULT_MARK) for line in proc.stdout.splitlines() if line.startswith(mark)]
    if proc.returncode != 0 or not results:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n" + "\n".join(lines[-40:]))
    return json.loads(results[-1])


def reference_row(args: argparse.Namespace, spec: str) -> dict:
    command = [sys.executable, "-W", "ignore", __file__, args.data, "--one", spec, "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--out", args.out]
    for option, value in (("--alignrec-code", args.alignrec_code), ("--mmrec-code", args.mmrec_code)):
        if value:
            command += [option, value]
    for item in args.set:
        command += ["--set", item]
    return child(command, args.threads)


def ours_row(args: argparse.Namespace, model: str) -> dict:
    """Our model through benchmarks/speed.py --one (same data, epochs and threads; test-split evaluation)."""
    speed = Path(__file__).with_name("speed.py")
    command = [sys.executable, "-W", "ignore", str(speed), args.data, "--one", OURS[model], "--epochs",
               str(args.epochs), "--evals", str(args.epochs), "--threads", str(args.threads), "--out", args.out]
    return child(command, args.threads, mark="{") | {"implementation": "alignrec (ours)", "model": model}


def markdown(rows: list[dict]) -> str:
    from alignrec.tables import fmt, table

    header = ["implementation", "model", "threads", "epochs", "s / train epoch (median)",
              "s / full test evaluation (median)", "peak RSS (MB)"]
    return table(header, [[r["implementation"], r["model"], str(r["threads"]), str(r["epochs"]),
                           fmt(r["train_seconds_per_epoch_median"], 3), fmt(r["eval_seconds_median"], 3),
                           fmt(r["peak_rss_mb"], 0)] for r in rows])


def measure_all(args: argparse.Namespace, report: Callable[[dict], None]) -> list[dict]:
    rows = []
    for spec in args.models:
        rows.append(reference_row(args, spec))
        report(rows[-1])
        model = spec.partition(":")[2]
        if args.ours and model in OURS:
            rows.append(ours_row(args, model))
            report(rows[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="dataset folder in MMRec format (<name>.inter, image_feat.npy, text_feat.npy)")
    parser.add_argument("--alignrec-code", help="checkout or git directory of sjtulyf123/AlignRec_CIKM24")
    parser.add_argument("--mmrec-code", help="checkout or git directory of enoche/MMRec")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS,
                        help="IMPLEMENTATION:MODEL, IMPLEMENTATION in " + ", ".join(IMPLEMENTATIONS))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="MODEL:KEY=VALUE",
                        help="override one of their config values (YAML syntax), e.g. LightGCN:n_layers=2")
    parser.add_argument("--ours", action="store_true", help="also run ours via benchmarks/speed.py --one")
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        implementation, _, model = args.one.partition(":")
        print(RESULT_MARK + json.dumps(run_reference(args, implementation, model)), flush=True)
        return
    rows = measure_all(args, lambda r: print({k: v for k, v in r.items() if not isinstance(v, list)}, flush=True))
    from alignrec.io import write_json, write_text  # both write a temporary file, then os.replace it

    write_json(args.out + ".json", {"data": args.data, "epochs": args.epochs, "threads": args.threads, "rows": rows})
    text = markdown(rows)
    write_text(args.out + ".md", text)
    print(text, end="")


if __name__ == "__main__":
    main()
