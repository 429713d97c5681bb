"""The hostile request of issue 27 (point 1) against a real ``alignrec serve``: ``POST /recommendations`` with
1.5 million empty objects as ``items`` (4.5 MB), sent again and again, while ``GET /health`` is polled beside it.

Measures, for each way of sending it, the answer's status and time, the server process's resident memory added
over its level before (sampled every 5 ms with psutil) and the /health latency meanwhile:

* ``content-length``: the body with its Content-Length (refused from the header alone);
* ``chunked``: the same body as a chunked upload without a length (refused once the limit has arrived);
* ``under-limit``: 60,000 empty objects (180 KB, under the JSON body limit), refused by the schema's max_length.

``benchmarks/serve_load.py --hostile`` runs the load levels with :class:`HostileLoop` sending it beside them.

The service runs on the quickstart's run (``--run``, default ``runs/serve-hostile/quickstart/run``; when it is
missing the script builds it with ``alignrec quickstart --epochs 1 --runs-dir runs/serve-hostile``, about a minute).
Writes ``OUT.json`` and ``OUT.md``::

    python benchmarks/serve_hostile.py --out benchmarks/results/serve-hostile
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alignrec.io import write_json, write_text
from alignrec.serving.bundle import load_bundle
from alignrec.serving.process import serve_in_subprocess
from alignrec.tables import table

DEFAULT_RUN = Path("runs/serve-hostile/quickstart/run")
TARGETS = {"answer_s": 0.5, "rss_added_mb": 50.0, "health_ms": 100.0}
CHUNK = 64 * 1024


def hostile_body(n: int = 1_500_000) -> bytes:
    """``{"items": [{}, {}, ...], "k": 10}`` with ``n`` empty objects (1.5 million: 4.5 MB)."""
    return b'{"items": [' + b",".join([b"{}"] * n) + b'], "k": 10}'


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start:start + CHUNK]


def post(url: str, path: str, body: bytes, chunked: bool = False, timeout: float = 60.0) -> tuple[int, float]:
    """POST ``body`` as JSON on a new connection; returns the status (0 if none came) and the seconds until the
    answer's status line. The server may answer before it has read the body: a send that then fails is fine."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if os.environ.get("ALIGNREC_API_KEY"):
        headers["X-API-Key"] = os.environ["ALIGNREC_API_KEY"]
    start = time.perf_counter()
    try:
        try:
            if chunked:
                conn.request("POST", path, body=_chunks(body), headers=headers, encode_chunked=True)
            else:
                conn.request("POST", path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            response = conn.getresponse()
        except (http.client.HTTPException, OSError):
            return 0, time.perf_counter() - start
        seconds = time.perf_counter() - start
        response.read()
        return response.status, seconds
    finally:
        conn.close()


class HostileLoop(threading.Thread):
    """One extra client that sends :func:`hostile_body` to ``url`` in a loop (``chunked`` or with its
    Content-Length) until :meth:`stop`; :meth:`summary` says what it got back (``benchmarks/serve_load.py
    --hostile`` runs it beside the load levels)."""

    def __init__(self, url: str, chunked: bool = False, body: bytes | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.chunked, self.body = url, chunked, body or hostile_body()
        self.answers: list[tuple[int, float]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.answers.append(post(self.url, "/recommendations", self.body, self.chunked))

    def stop(self) -> None:
        self._done.set()
        self.join()

    def summary(self) -> dict[str, Any]:
        seconds = [s for _, s in self.answers] or [0.0]
        statuses: dict[str, int] = {}
        for status, _ in self.answers:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        return {"mode": "chunked" if self.chunked else "content-length", "body_bytes": len(self.body),
                "requests": len(self.answers), "status_counts": statuses,
                "answer_s_median": round(statistics.median(seconds), 4), "answer_s_max": round(max(seconds), 4)}


class Sampler(threading.Thread):
    """Polls ``GET /health`` (every ``every`` s, one kept-alive connection) and the server process's RSS (every
    5 ms) until :meth:`stop`; ``health_ms`` and ``rss`` hold what it saw."""

    def __init__(self, url: str, pid: int | None, every: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.url, self.pid, self.every = url, pid, every
        self.health_ms: list[float] = []
        self.health_errors = 0
        self.rss: list[int] = []
        self._done = threading.Event()
        self._rss_thread = threading.Thread(target=self._sample_rss, daemon=True)

    def _sample_rss(self) -> None:
        if self.pid is None:
            return
        import psutil

        process = psutil.Process(self.pid)
        while not self._done.is_set():
            self.rss.append(process.memory_info().rss)
            time.sleep(0.005)

    def run(self) -> None:
        self._rss_thread.start()
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        while not self._done.is_set():
            start = time.perf_counter()
            try:
                conn.request("GET", "/health")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (http.client.HTTPException, OSError):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            if ok:
                self.health_ms.append(1000 * (time.perf_counter() - start))
            else:
                self.health_errors += 1
            self._done.wait(self.every)
        conn.close()

    def stop(self) -> None:
        self._done.set()
        self.join()
        self._rss_thread.join()


def rss_now(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def measure(url: str, pid: int | None, body: bytes, chunked: bool, repeats: int) -> dict[str, Any]:
    """Send ``body`` ``repeats`` times (one after another) while a :class:`Sampler` runs."""
    baseline = rss_now(pid) if pid is not None else None
    sampler = Sampler(url, pid)
    sampler.start()
    time.sleep(0.2)  # a few health answers before the first hostile request
    answers = [post(url, "/recommendations", body, chunked) for _ in range(repeats)]
    time.sleep(0.2)
    sampler.stop()
    seconds = [s for _, s in answers]
    out: dict[str, Any] = {
        "body_bytes": len(body), "chunked": chunked, "repeats": repeats,
        "statuses": sorted({status for status, _ in answers}),
        "answer_s_median": round(statistics.median(seconds), 4), "answer_s_max": round(max(seconds), 4),
        "health_requests": len(sampler.health_ms), "health_errors": sampler.health_errors,
        "health_ms_median": round(statistics.median(sampler.health_ms), 2) if sampler.health_ms else None,
        "health_ms_max": round(max(sampler.health_ms), 2) if sampler.health_ms else None}
    if baseline is not None and sampler.rss:
        out.update(rss_before_mb=round(baseline / 2 ** 20, 1),
                   rss_added_mb=round(max(0, max(sampler.rss) - baseline) / 2 ** 20, 1),
                   rss_samples=len(sampler.rss))
    out["meets_targets"] = bool(
        out["answer_s_max"] < TARGETS["answer_s"] and out.get("rss_added_mb", 0.0) < TARGETS["rss_added_mb"]
        and out["health_ms_max"] is not None and out["health_ms_max"] < TARGETS["health_ms"]
        and not out["health_errors"])
    return out


def warm_up(url: str, run_dir: Path) -> None:
    """A few ordinary requests first, so that lazily built state is not counted as the hostile request's."""
    bundle = load_bundle(run_dir)
    items = [str(i) for i in bundle.item_ids[:5]]
    for _ in range(5):
        assert post(url, "/recommendations", json.dumps({"items": items, "k": 10}).encode())[0] == 200
    post(url, "/recommendations", hostile_body(10_000))


def get_json(url: str) -> Any:
    key = os.environ.get("ALIGNREC_API_KEY")
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def ensure_run(run_dir: Path) -> Path:
    if (run_dir / "export").is_dir() or (run_dir / "manifest.json").is_file():
        return run_dir
    if run_dir != DEFAULT_RUN:
        raise SystemExit(f"{run_dir}: not a run with an export (train it first, or leave --run out)")
    print(f"{run_dir} is missing: building it with alignrec quickstart --epochs 1 ...", flush=True)
    subprocess.run([sys.executable, "-m", "alignrec", "quickstart", "--epochs", "1", "--runs-dir",
                    str(DEFAULT_RUN.parent.parent)], check=True)
    return run_dir


def markdown(result: dict[str, Any]) -> str:
    t = result["targets"]
    lines = [f"# The hostile request of issue 27 against alignrec serve ({result['date']})", "",
             f"`POST /recommendations` with {result['n_elements']:,} empty objects as items "
             f"({result['modes']['content-length']['body_bytes']:,} bytes), sent {result['repeats']} times one after "
             f"another, while `GET /health` is polled every 10 ms; server RSS sampled every 5 ms (psutil). Run: "
             f"{result['run']} ({result['items']} items). JSON body limit of the service: "
             f"{result['json_body_limit']:,} bytes. Machine: {result['machine']}.", "",
             f"Targets: answer < {t['answer_s']} s, RSS added < {t['rss_added_mb']:.0f} MB, /health < "
             f"{t['health_ms']:.0f} ms meanwhile. Before the fix (issue 27) this request took 23 s and 4 GB.", "",
             "Rows: `content-length` sends the body with its length (refused from the header), `chunked` without one "
             "(refused once the limit has arrived), `under-limit` 60,000 empty objects, under the body limit "
             "(refused by the schema's max_length on items).", ""]
    rows = [[mode, f"{m['body_bytes']:,}", ",".join(map(str, m["statuses"])), f"{m['answer_s_median']:.4f}",
             f"{m['answer_s_max']:.4f}", f"{m.get('rss_added_mb', float('nan')):.1f}", str(m["health_requests"]),
             f"{m['health_ms_median']}", f"{m['health_ms_max']}", "yes" if m["meets_targets"] else "NO"]
            for mode, m in result["modes"].items()]
    lines.append(table(["request", "body bytes", "status", "answer s (median)", "answer s (max)", "RSS added MB",
                        "/health requests", "/health ms (median)", "/health ms (max)", "meets targets"], rows))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN, help="the run to serve (built when the default "
                                                                      "is missing)")
    parser.add_argument("--repeats", type=int, default=100, help="hostile requests per way of sending")
    parser.add_argument("--out", default="benchmarks/results/serve-hostile",
                        help="output path without suffix; writes .json and .md")
    args = parser.parse_args()
    run_dir = ensure_run(args.run)
    body, small = hostile_body(), hostile_body(60_000)
    with serve_in_subprocess(run_dir, "--index", "exact", "--log-level", "warning") as server:
        warm_up(server.url, run_dir)
        pid = server.process.pid
        info = get_json(server.url + "/info")
        modes = {"content-length": measure(server.url, pid, body, False, args.repeats),
                 "chunked": measure(server.url, pid, body, True, args.repeats),
                 "under-limit": measure(server.url, pid, small, False, args.repeats)}
        alive = server.alive()
        log = server.output()
    result = {"date": time.strftime("%Y-%m-%d"), "run": str(run_dir), "items": info["items"],
              "n_elements": 1_500_000, "repeats": args.repeats, "targets": TARGETS,
              "json_body_limit": info["limits"]["json_body_bytes"], "limits": info["limits"],
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs)",
              "server_alive": alive, "traceback_in_log": "Traceback" in log, "modes": modes}
    write_json(args.out + ".json", result)
    write_text(args.out + ".md", markdown(result) + "\n")
    for mode, m in modes.items():
        print(f"{mode}: status {m['statuses']}, answer {m['answer_s_median']:.4f} s median / "
              f"{m['answer_s_max']:.4f} s max, RSS +{m.get('rss_added_mb')} MB, /health {m['health_ms_median']} ms "
              f"median / {m['health_ms_max']} ms max over {m['health_requests']}; meets targets: "
              f"{m['meets_targets']}", flush=True)
    print(f"wrote {args.out}.json and {args.out}.md")


if __name__ == "__main__":
    main()
