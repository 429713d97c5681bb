"""Load test of ``alignrec serve`` with locust (headless): requests per second and p50/p95/p99 latency at several
numbers of concurrent users, and the count of 5xx answers (from the service's own /metrics).

For each ``--run NAME=RUN_DIR`` the service is started on 127.0.0.1 (exact index unless ``--index``), then locust
runs ``benchmarks/serve_locustfile.py`` for ``--seconds`` at each ``--users`` level (closed loop, no think time;
the mix: user recommendations 6, similar items 2, unseen-user fold-in 2, new item 1, bad requests 1, health 1).
With ``--hostile`` (or ``--hostile chunked``) one extra client sends issue 27's hostile request (``POST
/recommendations`` with 1.5 million empty objects, 4.5 MB; see ``benchmarks/serve_hostile.py``) in a loop during
every level, and each level records what it got back. Writes ``OUT.json`` and ``OUT.md``. The runs the README
reports::

    alignrec run benchmarks/configs/serve-movielens-posters.toml
    alignrec train ../shared/data/amazon-scientific --model alignrec --run-dir runs/serve-amazon-scientific \\
        --epochs 300 --patience 20 --min-epochs 50
    python benchmarks/serve_load.py --run movielens-100k-posters=runs/serve-movielens-posters/run \\
        --run amazon-scientific=runs/serve-amazon-scientific --out benchmarks/results/serve-load
    python benchmarks/serve_load.py --run movielens-100k-posters=runs/serve-movielens-posters/run \\
        --run amazon-scientific=runs/serve-amazon-scientific --hostile --out benchmarks/results/serve-load-hostile
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from alignrec.io import write_json, write_text
from alignrec.serving.bundle import load_bundle
from alignrec.serving.process import serve_in_subprocess
from alignrec.tables import table

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script, also when imported from elsewhere
from serve_hostile import HostileLoop  # noqa: E402

LOCUSTFILE = Path(__file__).resolve().parent / "serve_locustfile.py"


def sample_ids(run_dir: Path, n: int = 500, seed: int = 0) -> dict[str, Any]:
    bundle = load_bundle(run_dir)
    rng = np.random.default_rng(seed)
    users = rng.choice(bundle.user_ids, min(n, bundle.n_users), replace=False).tolist()
    # Items with a content vector: "similar items" asks the content space too, which answers 422 for the others.
    with_content = bundle.item_ids if bundle.item_content is None else bundle.item_ids[
        np.any(bundle.item_content != 0, axis=1)]
    items = rng.choice(with_content, min(n, len(with_content)), replace=False).tolist()
    texts = [t for t in rng.choice(np.array(bundle.item_text, dtype=object), min(n, bundle.n_items)) if t]
    can_encode = bool((bundle.manifest.get("content") or {}).get("new_items", {}).get("possible"))
    return {"users": users, "items": items, "texts": texts or ["a new item"],
            "new_item_status": 200 if can_encode else 422}


def get_json(url: str) -> Any:
    key = os.environ.get("ALIGNREC_API_KEY")
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()) if "json" in response.headers["content-type"] else response.read().decode()


def sample_from_service(url: str, n: int = 200, seed: int = 0) -> dict[str, Any]:
    """Ids for the locust users from a running service: users from /users, items from their histories."""
    rng = np.random.default_rng(seed)
    users = get_json(f"{url}/users?limit=10000")["users"]
    users = rng.choice(users, min(n, len(users)), replace=False).tolist()
    seen = {row["item"]: row["text"] for u in users[:50] for row in get_json(f"{url}/users/{u}")["history"]}
    return {"users": users, "items": list(seen), "texts": [t for t in seen.values() if t] or ["a new item"],
            "new_item_status": 200 if get_json(f"{url}/info")["new_items"] else 422}


def status_counts(url: str) -> dict[str, int]:
    """Requests by status code so far, from the service's Prometheus metrics."""
    text = get_json(f"{url}/metrics")
    counts: dict[str, int] = {}
    for line in text.splitlines():
        found = re.match(r'alignrec_http_requests_total\{.*status="(\d+)"\} (\d+)', line)
        if found:
            counts[found.group(1)] = counts.get(found.group(1), 0) + int(found.group(2))
    return counts


def run_locust(url: str, users: int, seconds: int, sample_file: Path, workdir: Path) -> list[dict[str, str]]:
    prefix = workdir / f"u{users}"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(users),
           "--run-time", f"{seconds}s", "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR",
           "--stop-timeout", "10", "--exit-code-on-error", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120,
                          env={**os.environ, "ALIGNREC_LOAD_SAMPLE": str(sample_file)})
    if done.returncode != 0:
        raise RuntimeError(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def summarise(rows: list[dict[str, str]]) -> dict[str, Any]:
    def entry(row: dict[str, str]) -> dict[str, Any]:
        return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]), "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]), "mean_ms": float(row["Average Response Time"])}

    total = next(r for r in rows if r["Name"] == "Aggregated")
    return {**entry(total), "endpoints": {r["Name"]: entry(r) for r in rows if r["Name"] != "Aggregated"}}


def bench_run(name: str, run_dir: Path, levels: list[int], seconds: int, index: str, workdir: Path,
              hostile: str | None = None) -> dict[str, Any]:
    """Start the service on ``run_dir`` and load it at each level."""
    with serve_in_subprocess(run_dir, "--index", index, "--log-level", "warning") as server:
        out = bench_url(name, server.url, levels, seconds, workdir, sample_ids(run_dir), hostile)
        out.update(run=str(run_dir), server_alive=server.alive())
    return out


def bench_url(name: str, url: str, levels: list[int], seconds: int, workdir: Path,
              sample: dict[str, Any] | None = None, hostile: str | None = None) -> dict[str, Any]:
    """Load the service at ``url`` at each level; 5xx are counted from its /metrics before and after. With
    ``hostile`` (``content-length`` or ``chunked``) a :class:`HostileLoop` runs beside each level."""
    sample_file = workdir / f"{name}-sample.json"
    sample_file.write_text(json.dumps(sample or sample_from_service(url)))
    info = get_json(f"{url}/info")
    out: dict[str, Any] = {"url": url, "model": info["model"], "users": info["users"], "items": info["items"],
                           "index": info["index"], "new_items": info["new_items"], "levels": []}
    for users in levels:
        before = status_counts(url)
        loop = HostileLoop(url, chunked=hostile == "chunked") if hostile else None
        if loop is not None:
            loop.start()
        try:
            stats = summarise(run_locust(url, users, seconds, sample_file, workdir))
        finally:
            if loop is not None:
                loop.stop()
        after = status_counts(url)
        delta = {code: after.get(code, 0) - before.get(code, 0) for code in after}
        stats.update(concurrent_users=users, seconds=seconds, status_counts=delta,
                     server_5xx=sum(n for code, n in delta.items() if code.startswith("5")))
        if loop is not None:
            stats["hostile"] = loop.summary()
        out["levels"].append(stats)
        print(f"{name}: {users} users: {stats['rps']:.1f} req/s, p50 {stats['p50_ms']:.0f} ms, "
              f"p95 {stats['p95_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms, {stats['failures']} failures, "
              f"{stats['server_5xx']} 5xx" + (f"; hostile client: {stats['hostile']['requests']} requests, "
                                              f"{stats['hostile']['status_counts']}, answer max "
                                              f"{stats['hostile']['answer_s_max']} s" if loop else ""), flush=True)
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Load test of alignrec serve ({result['date']})", "",
             f"locust {result['locust']}, headless, closed loop (no think time), {result['seconds']} s per level; "
             f"server: one uvicorn process; machine: {result['machine']}. "
             "Latencies in ms over all requests of the mix (see benchmarks/serve_load.py).", ""]
    rows = [[name, str(level["concurrent_users"]), str(level["requests"]), f"{level['rps']:.1f}",
             f"{level['p50_ms']:.0f}", f"{level['p95_ms']:.0f}", f"{level['p99_ms']:.0f}", str(level["failures"]),
             str(level["server_5xx"])]
            for name, run in result["runs"].items() for level in run["levels"]]
    lines.append(table(["dataset", "users", "requests", "req/s", "p50", "p95", "p99", "failures", "5xx"], rows))
    hostile = [[name, str(level["concurrent_users"]), h["mode"], str(h["requests"]),
                ", ".join(f"{code}: {n}" for code, n in sorted(h["status_counts"].items())),
                f"{1000 * h['answer_s_median']:.0f}", f"{1000 * h['answer_s_max']:.0f}"]
               for name, run in result["runs"].items() for level in run["levels"] if (h := level.get("hostile"))]
    if hostile:
        lines += ["", "Beside each level one extra client sent issue 27's hostile request (POST /recommendations, "
                      "1.5 million empty objects, 4.5 MB) in a loop; its answers (ms):", ""]
        lines.append(table(["dataset", "users", "sent", "requests", "status", "answer p50", "answer max"], hostile))
    for name, run in result["runs"].items():
        top = run["levels"][-1]
        lines += ["", f"## {name}: per endpoint at {top['concurrent_users']} users ({run['model']}, {run['users']} "
                      f"users, {run['items']} items, {run['index']} index, new items from "
                      f"{run['new_items'] or 'nothing'})", ""]
        lines.append(table(["endpoint", "requests", "req/s", "p50", "p95", "p99", "failures"],
                           [[ep, str(s["requests"]), f"{s['rps']:.1f}", f"{s['p50_ms']:.0f}", f"{s['p95_ms']:.0f}",
                             f"{s['p99_ms']:.0f}", str(s["failures"])] for ep, s in top["endpoints"].items()]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="start the service on this run (repeatable)")
    parser.add_argument("--url", action="append", default=[], metavar="NAME=URL",
                        help="load a service that is already running (repeatable); its key from $ALIGNREC_API_KEY")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--index", default="exact", choices=["auto", "exact", "hnsw", "ivf"])
    parser.add_argument("--hostile", nargs="?", const="content-length", choices=["content-length", "chunked"],
                        help="one extra client sends issue 27's 4.5 MB request in a loop during every level "
                             "(with its Content-Length, or chunked)")
    parser.add_argument("--out", required=True, help="output path without suffix; writes .json and .md")
    args = parser.parse_args()
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "locust": metadata.version("locust"),
                              "seconds": args.seconds, "index": args.index, "hostile": args.hostile,
                              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs)",
                              "runs": {}}
    if not args.run and not args.url:
        parser.error("give --run NAME=RUN_DIR or --url NAME=URL")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.run + args.url:
            name, _, target = spec.partition("=")
            if not target:
                parser.error(f"expected NAME=RUN_DIR or NAME=URL, got {spec!r}")
            if spec in args.url:
                result["runs"][name] = bench_url(name, target, args.users, args.seconds, Path(tmp),
                                                 hostile=args.hostile)
            else:
                result["runs"][name] = bench_run(name, Path(target), args.users, args.seconds, args.index, Path(tmp),
                                                 args.hostile)
    write_json(args.out + ".json", result)
    write_text(args.out + ".md", markdown(result) + "\n")
    print(f"wrote {args.out}.json and {args.out}.md")


if __name__ == "__main__":
    main()
