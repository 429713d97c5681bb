"""Multi-process training (``torchrun``, gloo on the CPU) against one process: seconds per epoch and metrics.

Each setting is one ``alignrec train`` of ``--epochs`` epochs (no early stop) on the same data: one process with
``--threads`` threads, or N processes under ``torchrun --nproc_per_node N`` with ``--threads / N`` threads each,
so every setting uses the same cores. Reports the median seconds per training epoch, the speed-up over one
process and the test Recall@20 after those epochs. Writes ``OUT.json`` and ``OUT.md``. Example (book-crossing as
imported by ``alignrec import book-crossing``, 10-core)::

    python benchmarks/distributed_speed.py data/bx --k-core 10 --models lightgcn bpr --epochs 10 \\
        --out benchmarks/results/distributed-book-crossing
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from alignrec.io import write_json, write_text
from alignrec.tables import table
from alignrec.training.distributed import launch_command


def launch(args: argparse.Namespace, model: str, processes: int, run_dir: Path) -> dict[str, float]:
    train = ["alignrec", "train", args.data, "--model", model, "--epochs", str(args.epochs), "--min-epochs",
             str(args.epochs), "--no-progress", "--run-dir", str(run_dir), "--overwrite",
             "--threads", str(max(1, args.threads // processes)), *args.extra]
    if args.k_core:
        train += ["--k-core", str(args.k_core)]
    command = train if processes == 1 else [*launch_command(processes), *train]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        raise SystemExit(f"{model} on {processes} process(es) failed:\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - t0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"seconds_per_epoch": metrics["median_train_seconds_per_epoch"], "wall_seconds": wall,
            "test_recall@20": metrics["test"]["recall@20"], "test_ndcg@20": metrics["test"]["ndcg@20"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--k-core", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["lightgcn"])
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="cores shared by the processes of a setting")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `alignrec train` arguments")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    args = parser.parse_args()
    scratch = None if args.workdir else tempfile.TemporaryDirectory(prefix="alignrec-ddp-")  # removed at exit
    work = Path(scratch.name) if scratch else args.workdir
    rows = []
    for model in args.models:
        for processes in args.processes:
            measured = launch(args, model, processes, work / f"{model}-{processes}")
            row = {"model": model, "processes": processes, **measured}
            rows.append(row)
            print(row, flush=True)
    settings = {k: str(v) for k, v in vars(args).items() if k != "workdir"}
    settings["data"] = Path(args.data).name  # the folder's name: results carry no machine paths
    write_json(args.out + ".json", {"args": settings, "rows": rows})
    base = {r["model"]: r["seconds_per_epoch"] for r in rows if r["processes"] == 1}
    text = (f"`alignrec train` on {settings['data']} (k-core {args.k_core}), {args.epochs} epochs, {args.threads} "
            "cores per setting; median seconds per training epoch.\n\n"
            + table(["model", "processes", "s / epoch", "speed-up", "test R@20", "test N@20"],
                    [[r["model"], str(r["processes"]), f"{r['seconds_per_epoch']:.3f}",
                      f"{base[r['model']] / r['seconds_per_epoch']:.2f}x" if r["model"] in base else "n/a",
                      f"{r['test_recall@20']:.4f}", f"{r['test_ndcg@20']:.4f}"] for r in rows]))
    write_text(args.out + ".md", text)
    print(text)


if __name__ == "__main__":
    main()
