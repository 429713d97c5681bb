"""Book-Crossing end to end, step by step: import, encode (MiniLM), pretrain (MMEnc), train + evaluate AlignRec.

Runs the ``alignrec run`` pipeline (``k_core`` 10, text by MiniLM, a fresh per-item encoding cache so encoding is
timed, not read back) and reports the seconds of each step (from the pipeline's own step messages), the training
run's median seconds per epoch and per validation evaluation (its ``epochs.jsonl``), one timed full test
evaluation, the peak resident memory and the test metrics. Writes ``OUT.json`` and ``OUT.md``. Example::

    python benchmarks/book_crossing.py ../shared/data/book-crossing --workdir /tmp/bx-bench --threads 2 \\
        --epochs 1000 --min-epochs 50 --out benchmarks/results/book-crossing
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="the Book-Crossing folder (BX-*.csv)")
    parser.add_argument("--workdir", type=Path, required=True, help="the pipeline's work folder (must not exist)")
    parser.add_argument("--k-core", type=int, default=10)
    parser.add_argument("--max-ratings", type=int, help="import only the first N ratings (a quick look)")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--min-epochs", type=int, default=50)
    parser.add_argument("--pretrain-epochs", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    args = parser.parse_args()

    import torch

    from alignrec import RuntimeOptions
    from alignrec.evaluation import evaluate_split
    from alignrec.io import write_json, write_text
    from alignrec.runs.load import load_run
    from alignrec.runs.pipeline import PipelineConfig, run_pipeline

    if args.workdir.exists():
        raise SystemExit(f"{args.workdir}: exists; give a new folder so that every step is timed from scratch")
    config: dict[str, Any] = {
        "workdir": str(args.workdir),
        "import": {"format": "book-crossing", **({"max_ratings": args.max_ratings} if args.max_ratings else {})},
        "data": {"path": str(Path(args.source).resolve()), "k_core": args.k_core},
        "content": {"text": "minilm", "cache_dir": str(args.workdir / "encode-cache")},
        "train": {"epochs": args.epochs, "min_epochs": args.min_epochs}, "baselines": [],
    }
    if args.pretrain_epochs:
        config["pretrain"] = {"epochs": args.pretrain_epochs}
    steps: list[tuple[str, float]] = []
    last = [time.perf_counter()]

    def log(message: str) -> None:
        now = time.perf_counter()
        steps.append((message, now - last[0]))
        last[0] = now
        print(f"[{now - start:8.1f} s] {message}", flush=True)

    start = time.perf_counter()
    summary = run_pipeline(PipelineConfig.from_dict(config), RuntimeOptions(progress=False, threads=args.threads),
                           log=log)
    total = time.perf_counter() - start

    def seconds_of(prefix: str) -> float:
        return sum(s for message, s in steps if message.startswith(prefix))

    run_dir = args.workdir / "run"
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]
    run = load_run(run_dir)
    t0 = time.perf_counter()
    with torch.no_grad():
        evaluate_split(run.model.score, run.dataset, "test", [10, 20])
    test_eval = time.perf_counter() - t0
    stats = run.dataset.stats()
    result = {
        "dataset": {k: stats[k] for k in ("users", "items", "interactions", "train")},
        "items_dropped_by_k_core": run.dataset.report.get("items_dropped_by_k_core"),
        "seconds": {"import": seconds_of("import"), "encode": seconds_of("encode"),
                    "pretrain": seconds_of("pretrain"), "train": seconds_of("train"),
                    "zero_shot_evaluation": seconds_of("zero-shot") + seconds_of("alignrec"), "total": total},
        "epochs_run": len(epochs), "best_epoch": summary["stage2"].get("best_epoch"),
        "train_seconds_per_epoch_median": float(np.median([e["train_seconds"] for e in epochs])),
        "valid_eval_seconds_median": float(np.median([e["eval_seconds"] for e in epochs])),
        "test_eval_seconds": test_eval, "threads": args.threads,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "test": {k: summary["stage2"]["test"][k] for k in ("recall@10", "recall@20", "ndcg@10", "ndcg@20")},
        "zero_shot_test_recall@20": {name: parts["test"]["recall@20"] for name, parts in summary["zero_shot"].items()},
        "log": [message for message, _ in steps],
    }
    write_json(args.out + ".json", result)
    s = result["seconds"]
    rows = [f"| {name} | {value:.0f} |" for name, value in s.items()]
    text = (f"Book-Crossing {args.k_core}-core ({stats['users']:,} users, {stats['items']:,} items, "
            f"{stats['interactions']:,} interactions), AlignRec with MiniLM text and MMEnc, {args.threads} threads; "
            "`python benchmarks/book_crossing.py` (see its docstring).\n\n| step | seconds |\n|---|---:|\n"
            + "\n".join(rows) + f"\n\nTraining: {result['epochs_run']} epochs (best {result['best_epoch']}), "
            f"{result['train_seconds_per_epoch_median']:.1f} s per epoch, {result['valid_eval_seconds_median']:.2f} s "
            f"per validation pass, {test_eval:.2f} s for the full test evaluation; peak RSS "
            f"{result['peak_rss_mb']:.0f} MB.\n\nTest: "
            + ", ".join(f"{k} {v:.4f}" for k, v in result["test"].items()) + "\n")
    write_text(args.out + ".md", text)
    print(text)


if __name__ == "__main__":
    main()
