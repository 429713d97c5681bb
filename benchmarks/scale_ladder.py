"""Time and memory against data size, on the synthetic ladder (never an accuracy claim).

Each rung is a synthetic dataset (``alignrec.data.synthetic``: power-law users and items, features sharing the
interactions' cluster structure) written once into ``--workdir`` and reused. Each model on each rung runs in a
process of its own, which reports:

* ``load_seconds``: reading the Parquet table and features, filtering, splitting (no cache);
* ``build_seconds``: building the model and its graphs (AlignRec's item kNN graph included);
* ``epoch_seconds``: a training epoch of BPR batches (``--batch-size``), the median optimiser step over
  ``--steps`` steps (after one warm-up step) times the steps of an epoch; ``epoch_measured`` is true when a whole
  epoch was run instead (an epoch of at most ``--steps`` steps);
* ``eval_seconds``: full-ranking evaluation of the test split, measured on ``--eval-users`` users (all items
  ranked for each) and scaled to all test users (evaluation is linear in users); ``eval_measured_users`` says how
  many were measured;
* ``peak_rss_mb``: the process's peak resident memory.

The log-log slope of each time against interactions is fitted over the rungs. Writes ``OUT.json``, ``OUT.md`` and
``OUT.png`` (the plot is not committed: ``--render`` re-draws it from ``OUT.json``). Example::

    python benchmarks/scale_ladder.py --workdir /tmp/ladder --threads 2 --out benchmarks/results/scale-ladder
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# users, items, interactions: interactions x3 per rung up to the acceptance point 1M x 200k x 20M
RUNGS = [(10_000, 10_000, 200_000), (30_000, 20_000, 600_000), (100_000, 50_000, 2_000_000),
         (300_000, 100_000, 6_000_000), (1_000_000, 200_000, 20_000_000)]


def rung_name(users: int, items: int, interactions: int) -> str:
    return f"u{users}-i{items}-n{interactions}"


def child(args: argparse.Namespace) -> dict[str, Any]:
    import scipy.sparse as sp
    import torch

    from alignrec.data import load_dataset
    from alignrec.evaluation.evaluator import rank_and_evaluate
    from alignrec.models import build_model
    from alignrec.training.sampler import BPRSampler

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    dataset = load_dataset(args.child_data, use_cache=False)
    load_seconds = time.perf_counter() - t0
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = build_model(args.child_model, dataset)
    build_seconds = time.perf_counter() - t0
    optimizer = torch.optim.Adam(model.parameter_groups(), lr=1e-3)
    rng = np.random.default_rng(0)
    model.train()
    model.on_epoch_start(0, rng)
    users, pos, neg = (torch.from_numpy(a) for a in BPRSampler(dataset.train, dataset.n_items).epoch(rng))
    steps_per_epoch = math.ceil(len(users) / args.batch_size)
    whole_epoch = steps_per_epoch <= args.steps
    n_steps = steps_per_epoch if whole_epoch else args.steps + 1
    seconds = []
    for step in range(n_steps):
        batch = slice(step * args.batch_size, (step + 1) * args.batch_size)
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model.loss(users[batch], pos[batch], neg[batch])["loss"].backward()
        optimizer.step()
        seconds.append(time.perf_counter() - t0)
    epoch_seconds = sum(seconds) if whole_epoch else float(np.median(seconds[1:])) * steps_per_epoch

    model.eval()
    truth = dataset.matrix("test")
    test_users = np.flatnonzero(np.diff(truth.indptr) > 0)
    measured = np.random.default_rng(1).choice(test_users, min(args.eval_users, len(test_users)), replace=False)
    keep = np.zeros(truth.shape[0])
    keep[measured] = 1.0
    sampled_truth = sp.diags(keep) @ truth
    sampled_truth.eliminate_zeros()
    t0 = time.perf_counter()
    with torch.no_grad():
        rank_and_evaluate(model.score, sampled_truth.tocsr(), dataset.matrix("train"), [10, 20], args.eval_batch)
    eval_seconds = (time.perf_counter() - t0) * len(test_users) / len(measured)
    return {"users": dataset.n_users, "items": dataset.n_items, "train_interactions": len(dataset.train),
            "load_seconds": load_seconds, "build_seconds": build_seconds, "epoch_seconds": epoch_seconds,
            "steps_per_epoch": steps_per_epoch, "epoch_measured": whole_epoch,
            "step_seconds_median": float(np.median(seconds[1:] if len(seconds) > 1 else seconds)),
            "eval_seconds": eval_seconds, "eval_measured_users": len(measured), "test_users": len(test_users),
            "threads": torch.get_num_threads(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def slopes(rows: list[dict[str, Any]], model: str) -> dict[str, float]:
    mine = [r for r in rows if r["model"] == model]
    if len(mine) < 2:
        return {}
    x = np.log([r["interactions"] for r in mine])
    return {key: float(np.polyfit(x, np.log([r[key] for r in mine]), 1)[0])
            for key in ("epoch_seconds", "step_seconds_median", "eval_seconds", "peak_rss_mb")}


def markdown(rows: list[dict[str, Any]], models: list[str]) -> str:
    lines = ["| users | items | interactions | model | load s | build s | s / epoch | s / evaluation | peak RSS MB |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        epoch = f"{r['epoch_seconds']:.1f}" + ("" if r["epoch_measured"] else f" ({r['steps_per_epoch']} x "
                                                                              f"{r['step_seconds_median']:.3f})")
        evaluation = f"{r['eval_seconds']:.1f}" + ("" if r["eval_measured_users"] == r["test_users"]
                                                   else f" (from {r['eval_measured_users']:,} users)")
        lines.append(f"| {r['rung_users']:,} | {r['rung_items']:,} | {r['interactions']:,} | {r['model']} | "
                     f"{r['load_seconds']:.1f} | {r['build_seconds']:.1f} | {epoch} | {evaluation} | "
                     f"{r['peak_rss_mb']:.0f} |")
    lines += ["", "Log-log slope against interactions (1 = linear):", ""]
    for model in models:
        fitted = slopes(rows, model)
        if fitted:
            lines.append(f"- {model}: epoch {fitted['epoch_seconds']:.2f} (one optimiser step "
                         f"{fitted['step_seconds_median']:.2f}: every step propagates the whole graph, and an epoch "
                         f"has as many steps as interactions / batch), evaluation {fitted['eval_seconds']:.2f}, "
                         f"peak memory {fitted['peak_rss_mb']:.2f}")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], models: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        x = [r["interactions"] for r in mine]
        for key, style in (("epoch_seconds", "o-"), ("eval_seconds", "s--")):
            label = f"{model} {'epoch' if key == 'epoch_seconds' else 'evaluation'} (slope "
            ax.loglog(x, [r[key] for r in mine], style, label=label + f"{slopes(rows, model).get(key, 0):.2f})")
    ax.set_xlabel("interactions")
    ax.set_ylabel("seconds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True, help="where the synthetic datasets are kept")
    parser.add_argument("--rungs", type=int, default=len(RUNGS), help="how many rungs of the ladder, from the bottom")
    parser.add_argument("--rung", nargs=3, type=int, action="append", metavar=("USERS", "ITEMS", "INTERACTIONS"),
                        help="a rung of your own instead of the default ladder (repeatable)")
    parser.add_argument("--models", nargs="+", default=["lightgcn", "alignrec"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--eval-users", type=int, default=20_000)
    parser.add_argument("--eval-batch", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json, .md and .png")
    parser.add_argument("--render", action="store_true", help="only re-write OUT.md and OUT.png from OUT.json")
    parser.add_argument("--child-data", help=argparse.SUPPRESS)
    parser.add_argument("--child-model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_data:
        print(json.dumps(child(args)))
        return

    from alignrec.data.synthetic import SyntheticSpec, write_synthetic
    from alignrec.io import read_json, write_json, write_text

    if args.render:
        saved = read_json(args.out + ".json")
        models = list(dict.fromkeys(r["model"] for r in saved["rows"]))
        write_json(args.out + ".json", {**saved, "slopes": {m: slopes(saved["rows"], m) for m in models}})
        write_text(args.out + ".md", markdown(saved["rows"], models))
        plot(saved["rows"], models, Path(args.out + ".png"))
        return

    rows: list[dict[str, Any]] = []
    for users, items, interactions in args.rung or RUNGS[: args.rungs]:
        folder = args.workdir / rung_name(users, items, interactions)
        generate_seconds = None
        if not folder.exists():
            t0 = time.perf_counter()
            write_synthetic(SyntheticSpec(users, items, interactions, seed=0), folder)
            generate_seconds = time.perf_counter() - t0
        for model in args.models:
            command = [sys.executable, "-W", "ignore", __file__, "--workdir", str(args.workdir), "--out", args.out,
                       "--child-data", str(folder), "--child-model", model, "--steps", str(args.steps),
                       "--batch-size", str(args.batch_size), "--eval-users", str(args.eval_users),
                       "--eval-batch", str(args.eval_batch), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{model} on {folder.name} failed:\n{done.stderr[-3000:]}")
            row = {"rung_users": users, "rung_items": items, "interactions": interactions, "model": model,
                   "generate_seconds": generate_seconds, **json.loads(done.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(json.dumps(row), flush=True)
            settings = {k: str(v) for k, v in vars(args).items() if k not in ("workdir", "child_data", "child_model")}
            write_json(args.out + ".json", {"args": settings, "rows": rows,
                                            "slopes": {m: slopes(rows, m) for m in args.models}})
    write_text(args.out + ".md", markdown(rows, args.models))
    plot(rows, args.models, Path(args.out + ".png"))
    print(markdown(rows, args.models))


if __name__ == "__main__":
    main()
