"""Approximate top-k (FAISS HNSW and IVF) against the exact index: Recall@k, build time and query time, on the
largest catalogue at hand; and, for trained runs, whether the exact index returns the model's own top-k.

Catalogue: Book-Crossing imported and 10-core filtered, the kept items' text (title, author, year, publisher)
encoded by all-MiniLM-L6-v2 (``--book-crossing``), or any dataset folder's feature (``--data`` and ``--feature``).
Queries, in the content space (cosine): ``items``, random catalogue items (similar items, the item itself left
out); ``users``, random users' content profiles (the mean of their normalised training items, as the service
ranks users for a new item). Example (about 10 minutes on 2 cores, most of it encoding; the encodings are cached
in the work folder)::

    python benchmarks/ann_recall.py --book-crossing ../shared/data/book-crossing --workdir /tmp/ann \\
        --runs runs/serve-movielens-posters/run runs/serve-amazon-scientific --out benchmarks/results/ann-recall
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from alignrec import DataConfig, load_dataset
from alignrec.content.encode import encode_texts_cached
from alignrec.content.importers import import_book_crossing
from alignrec.content.registry import build_encoder
from alignrec.data.dataset import l2_normalise
from alignrec.evaluation import top_k_items
from alignrec.io import write_json, write_text
from alignrec.runs import load_run
from alignrec.serving.bundle import load_bundle
from alignrec.serving.index import VectorIndex, ivf_cells, recall_at_k
from alignrec.tables import table

HNSW_EF = (20, 40, 80, 160)  # efSearch below k would be raised to k
IVF_NPROBE = (1, 4, 16, 64)


def book_crossing(source: Path, workdir: Path, k_core: int) -> tuple[Any, np.ndarray]:
    """The 10-core Book-Crossing dataset and its kept items' MiniLM text vectors (rows of the other items zero)."""
    folder = workdir / "book-crossing"
    if not (folder / "import_report.json").is_file():
        import_book_crossing(source, folder)
    dataset = load_dataset(DataConfig(path=str(folder), k_core=k_core, cache_dir=str(workdir / "cache")))
    kept = np.unique(np.concatenate([dataset.train[:, 1], dataset.valid[:, 1], dataset.test[:, 1]]))
    texts = [dataset.item_text[i] if dataset.item_text else "" for i in kept]
    encoded = encode_texts_cached(texts, build_encoder("minilm"), workdir / "encode-cache", 128)
    vectors = np.zeros((dataset.n_items, encoded.matrix.shape[1]), np.float32)
    vectors[kept] = encoded.matrix
    return dataset, vectors


def queries(dataset: Any, vectors: np.ndarray, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    present = np.flatnonzero(np.abs(vectors).sum(1) > 0)
    items = rng.choice(present, min(n, len(present)), replace=False)
    train = sp.csr_matrix((np.ones(len(dataset.train), np.float32), (dataset.train[:, 0], dataset.train[:, 1])),
                          shape=(dataset.n_users, dataset.n_items))
    profiles = l2_normalise(train @ l2_normalise(vectors))
    has = np.flatnonzero(np.abs(profiles).sum(1) > 0)
    users = rng.choice(has, min(n, len(has)), replace=False)
    return {"items": l2_normalise(vectors[items]), "users": profiles[users]}


def timed_search(index: VectorIndex, q: np.ndarray, k: int) -> tuple[float, float]:
    """Milliseconds per query: in one batch, and one query at a time (first 200)."""
    start = time.perf_counter()
    index.search(q, k)
    batch = (time.perf_counter() - start) * 1000 / len(q)
    single = q[:200]
    start = time.perf_counter()
    for row in single:
        index.search(row, k)
    return batch, (time.perf_counter() - start) * 1000 / len(single)


def compare_indexes(vectors: np.ndarray, qs: dict[str, np.ndarray], k: int) -> list[dict[str, Any]]:
    kept = np.flatnonzero(np.abs(vectors).sum(1) > 0)
    x = l2_normalise(vectors[kept])  # only the catalogue's items with content are indexed
    exact = VectorIndex(x, "exact")
    configs: list[tuple[str, VectorIndex, list[tuple[str, Any]]]] = [("exact", exact, [("", None)])]
    hnsw = VectorIndex(x, "hnsw")
    configs.append(("hnsw M=32", hnsw, [(f"efSearch={ef}", ef) for ef in HNSW_EF]))
    ivf = VectorIndex(x, "ivf")
    configs.append((f"ivf nlist={ivf_cells(len(x))}", ivf, [(f"nprobe={p}", p) for p in IVF_NPROBE]))
    rows = []
    for name, index, settings in configs:
        for label, value in settings:
            if index.kind == "hnsw":
                index.ef_search = value
            elif index.kind == "ivf":
                index.nprobe = value
            row: dict[str, Any] = {"index": name, "setting": label, "build_seconds": round(index.build_seconds, 3)}
            for qname, q in qs.items():
                row[f"recall@{k}_{qname}"] = recall_at_k(index, exact, q, k)
                row[f"ms_per_query_batch_{qname}"], row[f"ms_per_query_single_{qname}"] = timed_search(index, q, k)
            rows.append(row)
            print({key: round(v, 4) if isinstance(v, float) else v for key, v in row.items()}, flush=True)
    return rows


def exact_matches_model(run_dir: Path, k: int) -> dict[str, Any]:
    """FAISS exact top-k over the export against the model's own full ranking (training items left out)."""
    run, bundle = load_run(run_dir), load_bundle(run_dir)
    users = np.arange(bundle.n_users)
    with torch.no_grad():
        model_top = top_k_items(run.model.score, users, run.dataset.matrix("train"), k)
        scores = run.model.score(torch.from_numpy(users)).numpy()
    index = VectorIndex(bundle.item_embeddings, "exact")  # type: ignore[arg-type]
    _, faiss_top = index.search(bundle.user_embeddings, k, [bundle.history(u) for u in users])  # type: ignore[arg-type]
    same = (faiss_top == model_top).all(1)
    gap = float(np.abs(np.sort(np.take_along_axis(scores, faiss_top, 1), 1)
                       - np.sort(np.take_along_axis(scores, model_top, 1), 1)).max())
    return {"run": str(run_dir), "model": run.config.model, "dataset": bundle.manifest["dataset"], "users": len(users),
            "identical_top_k_users": int(same.sum()), "max_score_gap_between_lists": gap}


def markdown(result: dict[str, Any]) -> str:
    k, src = result["k"], result["catalogue"]
    lines = [f"# Approximate vs exact top-{k} ({result['date']})", "",
             f"Catalogue: {src['name']}, {src['items_indexed']} items with content indexed (of "
             f"{src['items_with_interactions']} with training interactions), {src['dim']}-d; "
             f"{src['queries']} queries of each kind; 1 FAISS thread per single query, machine shared with other "
             "jobs (times are indicative).", ""]
    heads = ["index", "setting", "build s", f"R@{k} items", f"R@{k} users", "ms/query (batch)", "ms/query (single)"]
    lines.append(table(heads, [[r["index"], r["setting"], f"{r['build_seconds']:.2f}", f"{r[f'recall@{k}_items']:.4f}",
                                f"{r[f'recall@{k}_users']:.4f}", f"{r['ms_per_query_batch_items']:.3f}",
                                f"{r['ms_per_query_single_items']:.3f}"] for r in result["indexes"]]))
    if result.get("runs"):
        lines += ["", f"FAISS exact top-{k} against the model's own full ranking (training items left out):", ""]
        lines.append(table(["run", "model", "dataset", "users", "identical top-k", "max score gap"],
                           [[r["run"], r["model"], r["dataset"], str(r["users"]), str(r["identical_top_k_users"]),
                             f"{r['max_score_gap_between_lists']:.2e}"] for r in result["runs"]]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--book-crossing", type=Path, help="the Book-Crossing CSV folder")
    source.add_argument("--data", type=Path, help="any dataset folder (with --feature)")
    parser.add_argument("--feature", default="text")
    parser.add_argument("--k-core", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/alignrec-ann"))
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="FAISS threads for building and batch queries")
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="run directories to check exact vs model")
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    if args.book_crossing is not None:
        dataset, vectors = book_crossing(args.book_crossing, args.workdir, args.k_core)
        name = f"book-crossing ({args.k_core}-core, MiniLM text)"
    else:
        dataset = load_dataset(dataclasses.replace(DataConfig(path=str(args.data)), features=[args.feature]))
        vectors, name = dataset.features[args.feature], f"{dataset.name} ({args.feature} feature)"
    qs = queries(dataset, vectors, args.queries, np.random.default_rng(0))
    rows = compare_indexes(vectors, qs, args.k)
    result = {"date": time.strftime("%Y-%m-%d"), "k": args.k, "faiss": faiss.__version__,
              "catalogue": {"name": name, "items_indexed": int((np.abs(vectors).sum(1) > 0).sum()),
                            "items_with_interactions": int((dataset.item_popularity() > 0).sum()),
                            "dim": int(vectors.shape[1]), "queries": len(qs["items"]), "users": dataset.n_users},
              "indexes": rows, "runs": [exact_matches_model(run, args.k) for run in args.runs]}
    write_json(args.out + ".json", result)
    write_text(args.out + ".md", markdown(result) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
