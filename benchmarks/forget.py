"""Forgetting on request: reverse BPR (MMRecUn) against retraining from scratch (the gold model).

For each dataset and model: train the original run, then for each request (5% of the training interactions at
random, 1% of the users at random, 1% of the items at random, the 1% most popular items) make the unlearned run
with ``reverse-bpr`` and the gold run with ``retrain``, each over the seeds, and verify every run the same way
(``alignrec.runs.forget_check``): forget-set Recall@20, test Recall@20, membership-inference AUC, seconds.
Requests never strand a user (an interaction or item request that would leave a user without training data is
refused by ``alignrec forget``, so the draw keeps one training interaction per user; popular items that would
strand a user are skipped). Results are appended to ``OUT.json`` as they come (``--resume`` skips what is there;
every reverse-bpr run comes before the first retrain); ``OUT.md`` is the table. Example::

    python benchmarks/forget.py --datasets amazon-scientific --models lightgcn alignrec --seeds 1 2 999 \\
        --out benchmarks/results/forget
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from alignrec import DataConfig, RunConfig, RuntimeOptions, TrainConfig, load_dataset, train
from alignrec.data.removal import Removal, interactions_keeping_every_user, items_keeping_every_user
from alignrec.io import read_json, write_json, write_text
from alignrec.runs.forget import ForgetRequest, forget
from alignrec.runs.forget_check import check
from alignrec.runs.load import LoadedRun, load_run
from alignrec.tables import table
from alignrec.training.unlearning import UnlearnConfig

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KINDS = ("interactions-5%", "users-1%", "items-1%", "popular-items-1%")


def dataset_config(name: str, root: Path, work: Path, encode_cache: Path) -> DataConfig:
    if name != "movielens-100k-posters":
        return DataConfig(path=str(root / name))
    from alignrec.content.build import derive_folder, encode_content
    from alignrec.content.importers import content_for_dataset

    source = root / name
    folder = derive_folder(source, work / "data" / name)
    posters = source / "posters"
    encoders = {"text": "minilm", **({"image": "efficientnet-lite0"} if posters.is_dir() else {})}
    if not all((folder / f"{m}_feat.npy").is_file() for m in encoders):
        plain = load_dataset(DataConfig(path=str(folder), features=[]), use_cache=False)
        items = content_for_dataset(plain, folder, posters if posters.is_dir() else None)
        encode_content(items, folder, encoders, encode_cache, progress=False)
    return DataConfig(path=str(folder), split="random", rating_threshold=4.0)


def training_seconds(run_dir: Path) -> float:
    """Training plus validation time of a finished run, from its ``epochs.jsonl`` (also when trained earlier)."""
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines() if line.strip()]
    return float(sum(e.get("train_seconds", 0.0) + e.get("eval_seconds", 0.0) for e in epochs))


def make_request(kind: str, run: LoadedRun, seed: int) -> ForgetRequest:
    ds, rng = run.dataset, np.random.default_rng([seed, KINDS.index(kind)])
    users_with_train = np.unique(ds.train[:, 0])
    if kind == "interactions-5%":
        pairs = interactions_keeping_every_user(ds.train, round(0.05 * len(ds.train)), rng)
        return ForgetRequest(interactions=[(str(ds.user_ids[u]), str(ds.item_ids[i])) for u, i in pairs])
    if kind == "users-1%":
        users = rng.choice(users_with_train, max(1, round(0.01 * len(users_with_train))), replace=False)
        return ForgetRequest(users=[str(ds.user_ids[u]) for u in users])
    candidates = np.unique(ds.train[:, 1])
    order = (candidates[np.argsort(-ds.item_popularity()[candidates], kind="stable")] if kind.startswith("popular")
             else rng.permutation(candidates))
    items = items_keeping_every_user(ds.train, order, max(1, round(0.01 * ds.n_items)))
    return ForgetRequest(items=[str(ds.item_ids[i]) for i in items])


def summarise(rows: list[dict[str, Any]]) -> str:
    def cell(values: list[float]) -> str:
        v = np.array(values, dtype=float)
        return f"{v.mean():.4f} ± {v.std(ddof=1):.4f}" if len(v) > 1 else f"{v.mean():.4f}"

    out = []
    keys = sorted({(r["dataset"], r["model"], r["request"]) for r in rows}, key=str)
    for dataset, model, kind in keys:
        group = [r for r in rows if (r["dataset"], r["model"], r["request"]) == (dataset, model, kind)]
        for method in ("original", "reverse-bpr", "retrain"):
            mine = [r for r in group if r["method"] == method]
            if mine:
                out.append([dataset, model, kind, method, str(len(mine)),
                            *(cell([r["verification"][m] for r in mine]) for m in
                              ("forget_recall@20", "test_recall@20", "membership_auc")),
                            cell([r["seconds"] for r in mine])])
    return table(["dataset", "model", "request", "method", "runs", "forget R@20", "test R@20", "MIA AUC", "seconds"],
                 out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["amazon-scientific", "movielens-100k-posters"])
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--models", nargs="+", default=["lightgcn", "alignrec"])
    parser.add_argument("--requests", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 999])
    parser.add_argument("--epochs", type=int, default=1000, help="training epochs at most (original and retrain)")
    parser.add_argument("--min-epochs", type=int, default=TrainConfig().min_epochs)
    parser.add_argument("--max-unlearn-epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="where the runs go (default: a temporary folder)")
    parser.add_argument("--encode-cache", type=Path, default=Path.home() / ".cache" / "alignrec" / "encode-cache")
    parser.add_argument("--resume", action="store_true", help="keep the rows already in OUT.json")
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    args = parser.parse_args()
    runtime = RuntimeOptions(progress=False, threads=args.threads)
    out_json = Path(args.out + ".json")
    rows: list[dict[str, Any]] = read_json(out_json)["rows"] if args.resume and out_json.is_file() else []
    done = {(r["dataset"], r["model"], r["request"], r["method"], r["seed"]) for r in rows}
    work = args.workdir or Path(tempfile.mkdtemp(prefix="alignrec-forget-"))

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        settings = {k: str(v) for k, v in vars(args).items() if k not in ("data_root", "workdir", "encode_cache")}
        write_json(out_json, {"args": settings, "rows": rows})  # no machine paths in a committed results file
        print(json.dumps({k: row[k] for k in ("dataset", "model", "request", "method", "seed", "seconds")}
                         | {k: round(v, 4) for k, v in row["verification"].items()}), flush=True)

    for name in args.datasets:
        data = dataset_config(name, args.data_root, work, args.encode_cache)
        for model in args.models:
            original_dir = work / name / model / "original"
            config = RunConfig(data=data, model=model, train=TrainConfig(
                epochs=args.epochs, min_epochs=args.min_epochs, seed=args.seeds[0]))
            if not (original_dir / "metrics.json").is_file():
                train(config, run_dir=original_dir, overwrite=True, runtime=runtime)
            original, seconds = load_run(original_dir), training_seconds(original_dir)
            requests = {kind: make_request(kind, original, seed=0) for kind in args.requests}
            # every reverse-bpr run (seconds each) before any retrain (minutes each): a run cut short still has
            # the unlearned side of every request
            for method in ("reverse-bpr", "retrain"):
                for kind, request in requests.items():
                    for seed in args.seeds:
                        if (name, model, kind, method, seed) in done:
                            continue
                        new = work / name / model / kind / f"{method}-{seed}"
                        shutil.rmtree(new, ignore_errors=True)
                        unlearn = UnlearnConfig(seed=seed, max_epochs=args.max_unlearn_epochs)
                        report = forget(original_dir, new, request, method, unlearn, runtime, retrain_seed=seed)
                        record({"dataset": name, "model": model, "request": kind, "method": method, "seed": seed,
                                "removed": report["removed"], "seconds": report["seconds"],
                                "unlearning_epochs": report["unlearning_epochs"],
                                "verification": report["verification"]})
                    if method == "reverse-bpr" and (name, model, kind, "original", args.seeds[0]) not in done:
                        unlearned = load_run(work / name / model / kind / f"reverse-bpr-{args.seeds[0]}")
                        removal = Removal.load(unlearned.config.data.removal)
                        judged = LoadedRun(original.config, unlearned.dataset, original.model, original.best_epoch)
                        record({"dataset": name, "model": model, "request": kind, "method": "original",
                                "seed": args.seeds[0], "removed": {}, "seconds": seconds, "unlearning_epochs": 0,
                                "verification": check(judged, original.dataset, removal)})
    write_text(args.out + ".md", "Forget-set / test Recall@20 and membership-inference AUC (0.5 = the scores tell "
               "forgotten pairs from never-seen ones no better than chance); mean ± sample std over seeds "
               f"{args.seeds}; `python benchmarks/forget.py` (see its docstring).\n\n" + summarise(rows))
    print(summarise(rows))


if __name__ == "__main__":
    main()
