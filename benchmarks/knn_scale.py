"""Item-item kNN graph at catalogue scale: seconds and peak memory of each backend, and HNSW's recall.

Synthetic features only (never an accuracy claim): ``--items`` rows of ``--dim`` floats drawn around 2,000 random
centres, so that neighbourhoods exist as in real content features. Each backend builds the graph
(``alignrec.models.graph.knn_adjacency``, k = ``--k``) in a process of its own, whose peak resident memory
(``ru_maxrss``, the features included) is reported; recall@k of an approximate backend is against the exact
graph. Writes ``OUT.json`` and ``OUT.md``. Example::

    python benchmarks/knn_scale.py --items 200000 --dim 512 --threads 2 --out benchmarks/results/knn-scale
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_features(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    features = centres[rng.integers(0, len(centres), n)]
    for start in range(0, n, 8192):  # float32 noise in slices: no n x d float64 buffer inflating the measured peak
        noise = rng.standard_normal((min(8192, n - start), dim), dtype=np.float32)
        features[start:start + len(noise)] += 0.7 * noise
    return features


def child(args: argparse.Namespace) -> None:
    import torch

    from alignrec.models.graph import knn_adjacency

    torch.set_num_threads(args.threads)
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        pass
    features = synthetic_features(args.items, args.dim, args.seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    graph = knn_adjacency(features, args.k, weighted=True, backend=args.child)
    seconds = time.perf_counter() - t0
    rows = np.repeat(np.arange(args.items, dtype=np.int64), np.diff(graph.indptr))
    np.save(args.workdir / f"{args.child}.npy", rows * args.items + graph.indices)  # one code per (item, neighbour)
    print(json.dumps({"backend": args.child, "seconds": seconds, "edges": int(graph.nnz), "rss_before_mb": before,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact graph's (item, neighbour) pairs that the approximate graph has."""
    return float(np.isin(exact, approx).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=["exact", "faiss-flat", "faiss-hnsw"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="output path without suffix; writes .json and .md")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not args.out:
        parser.error("--out is required")
    from alignrec.io import write_json, write_text
    from alignrec.tables import table

    scratch = None if args.workdir else tempfile.TemporaryDirectory(prefix="alignrec-knn-")  # removed at exit
    args.workdir = Path(scratch.name) if scratch else args.workdir
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for backend in args.backends:
        command = [sys.executable, __file__, "--child", backend, "--items", str(args.items), "--dim", str(args.dim),
                   "--k", str(args.k), "--threads", str(args.threads), "--seed", str(args.seed),
                   "--workdir", str(args.workdir)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    exact_file = args.workdir / "exact.npy"
    if exact_file.is_file():
        exact = np.load(exact_file)
        for row in rows:
            row["recall_vs_exact"] = recall(np.load(args.workdir / f"{row['backend']}.npy"), exact)
    setting = {"items": args.items, "dim": args.dim, "k": args.k, "threads": args.threads, "seed": args.seed}
    write_json(args.out + ".json", {"setting": setting, "rows": rows})
    text = (f"kNN graph (k = {args.k}) of {args.items:,} synthetic items x {args.dim} floats, {args.threads} "
            f"thread(s); peak RSS of the process, the {args.items * args.dim * 4 / 2**20:.0f} MB features included; "
            f"`python benchmarks/knn_scale.py --items {args.items} --dim {args.dim} --threads {args.threads}`.\n\n"
            + table(["backend", "seconds", "RSS before the search MB", "peak RSS MB", "recall@k vs exact"],
                    [[r["backend"], f"{r['seconds']:.1f}", f"{r['rss_before_mb']:.0f}", f"{r['peak_rss_mb']:.0f}",
                      f"{r['recall_vs_exact']:.4f}" if "recall_vs_exact" in r else "n/a"] for r in rows]))
    write_text(args.out + ".md", text)
    print(text)


if __name__ == "__main__":
    main()
