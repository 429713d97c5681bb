"""Run ``alignrec serve`` in a child process on 127.0.0.1 and wait until it answers (tests, benchmarks, scripts)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200 and json.loads(response.read()).get("status") == "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextmanager
def serve_in_subprocess(run_dir: str | Path, *args: str, env: dict[str, str] | None = None,
                        start_timeout: float = 180.0) -> Iterator[ServerProcess]:
    """``alignrec serve RUN_DIR --host 127.0.0.1 --port <free> ARGS`` in a child process; yields once ``/health``
    answers, and stops the process (SIGTERM, then SIGKILL) when the block ends. Its output is in
    ``server.output()`` until then."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="alignrec-serve-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "alignrec", "serve", str(run_dir), "--host", "127.0.0.1", "--port", str(port),
           *args]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + start_timeout
        while not _healthy(server.url):
            if not server.alive():
                raise RuntimeError(f"alignrec serve exited with {process.returncode}:\n{server.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"alignrec serve did not answer in {start_timeout} s:\n{server.output()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.unlink(missing_ok=True)
