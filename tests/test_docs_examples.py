"""The code blocks of the README, the tutorials and two guide pages run on small real data, so the documentation
cannot drift from the code.

Every ```bash / ```python block in those pages carries a marker comment on the line before it:

* ``<!-- docs-test: run -->`` runs it (``id=NAME`` names it for a hook below);
* ``<!-- docs-test: file NAME -->`` writes its text to the file ``NAME`` (a config the next commands read);
* ``<!-- docs-test: skip REASON -->`` does not run it, and says why.

The README runs first, in a temporary folder; each other page then runs in a copy of the folder the README's tour
left, as the pages say. A bash block is one command per line (``\\`` continues a line): ``alignrec ...`` runs
in this process through ``alignrec.cli.main`` with the flags of ``FAST`` appended (argparse takes the last value,
so ``--epochs 2`` wins over the page's), ``alignrec serve`` starts in a child process on a free port (the page's
``localhost:8000`` is rewritten to it) and is stopped at the end of the page, ``torchrun`` runs as a child
process, anything else through bash. A Python block runs in this process, its ``TrainConfig(...)`` given 2 epochs
as ``FAST`` gives the commands. The data is MovieLens-100K (``../shared`` or the recbole wheel), cut to its
first items by the ``movielens-csv`` hook so that encoding and training take seconds.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
# Pages that start from the tour's folder, in docs/; each runs in a copy of it.
FOLLOW_UPS = ["tutorials/tune-and-compare", "tutorials/stage1", "tutorials/serve", "tutorials/forget",
              "tutorials/distributed", "guide/config", "guide/python-api"]
PAGES = [README] + [ROOT / "docs" / f"{name}.md" for name in FOLLOW_UPS]
CHECKED_LANGUAGES = {"bash", "sh", "shell", "console", "python", "py"}

MARKER = re.compile(r"<!--\s*docs-test:\s*(run|skip|file)\b(.*?)-->")
FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)[^\n]*$")

# Appended to each command a page runs (the page's own values stay what a reader should use).
RUNTIME = ["--threads", "1", "--no-progress"]
FAST: dict[str, list[str]] = {
    "train": ["--epochs", "2", "--min-epochs", "0", *RUNTIME],
    "tune": ["--trials", "2", "--epochs", "2", "--min-epochs", "0", "--warmup-epochs", "0", *RUNTIME],
    "pretrain": ["--set", "pretrain.epochs=1", *RUNTIME],
    "encode": RUNTIME,
    "run": ["--set", "train.epochs=2", "--set", "train.min_epochs=0", "--set", "pretrain.epochs=1", *RUNTIME],
    "forget": ["--max-epochs", "3", "--threads", "1", "--no-progress"],
    "benchmark": ["--set", "seeds=1", "--set", "models=lightgcn", "--threads", "1"],
}
# The items kept by the movielens-csv hook: MovieLens ids 1..N (the tour's examples use items 1-300).
SMALL_ITEMS = 300
SLOW_SECONDS = 90


@dataclass
class Block:
    page: Path
    line: int
    language: str
    action: str  # run, skip or file
    argument: str  # the marker's rest: a file name, an id=NAME, or the reason to skip
    code: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced code blocks of ``page`` with the marker on the line before each (action '' where none)."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i].strip())
        if not opening:
            i += 1
            continue
        fence, language = opening.groups()
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(fence))
        indent = len(lines[i]) - len(lines[i].lstrip())
        code = "\n".join(line[indent:] for line in lines[i + 1:end]) + "\n"
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.search(previous)
        action, argument = (marker.group(1), marker.group(2).strip()) if marker else ("", "")
        found.append(Block(page, i + 1, language.lower(), action, argument, code))
        i = end + 1
    return found


def logical_lines(code: str) -> list[str]:
    """A bash block's commands: ``\\``-continued lines joined, blank and comment-only lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


class PageRun:
    """Runs one page's blocks in ``folder``, one command at a time; remembers the servers it started."""

    def __init__(self, folder: Path, hooks: dict[str, Callable[[Path], None]]) -> None:
        self.folder = folder
        self.hooks = hooks
        self.servers = contextlib.ExitStack()
        self.port: int | None = None
        self.log: list[str] = []
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}

    def run(self, block: Block) -> None:
        if block.action == "file":
            (self.folder / block.argument).write_text(block.code)
        elif block.language in ("python", "py"):
            self.python(block)
        else:
            for line in logical_lines(block.code):
                self.command(block, line)
        hook = re.search(r"id=([\w-]+)", block.argument)
        if hook and hook.group(1) in self.hooks:
            self.hooks[hook.group(1)](self.folder)

    def python(self, block: Block) -> None:
        out = io.StringIO()
        code = block.code.replace("TrainConfig(", "TrainConfig(epochs=2, min_epochs=0, ")  # as FAST does
        with contextlib.redirect_stdout(out):
            exec(compile(code, block.where(), "exec"), {"__name__": "__docs__"})
        self.log.append(f"{block.where()} python\n{out.getvalue()[-2000:]}")

    def command(self, block: Block, line: str) -> None:
        started = time.monotonic()
        line = self.local_port(line)
        words = shlex.split(line, comments=True)
        if words[0] == "alignrec" and words[1:2] == ["serve"]:
            self.serve(words[2:])
            output = f"serving on port {self.port}"
        elif words[0] == "alignrec":
            output = self.alignrec(block, words[1:])
        elif words[0] == "torchrun":
            output = self.child(block, [*words, *FAST["train"]] if "train" in words else words)
        else:
            assert "alignrec " not in line, f"{block.where()}: put each alignrec command on a line of its own: {line}"
            output = self.child(block, ["bash", "-euo", "pipefail", "-c", line])
        self.log.append(f"{block.where()} [{time.monotonic() - started:.1f} s] {line}\n{output[-1500:]}")

    def local_port(self, line: str) -> str:
        """The page's ``localhost:8000`` / ``127.0.0.1:8000`` pointed at the server this page started."""
        if self.port is None:
            return line
        return re.sub(r"(localhost|127\.0\.0\.1):8000\b", f"127.0.0.1:{self.port}", line)

    def alignrec(self, block: Block, argv: list[str]) -> str:
        from alignrec.cli import main

        argv = [*argv, *FAST.get(argv[0], [])]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        assert code == 0, f"{block.where()}: alignrec {' '.join(argv)} exited {code}:\n{err.getvalue()[-3000:]}"
        return out.getvalue()

    def child(self, block: Block, cmd: list[str]) -> str:
        done = subprocess.run(cmd, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (f"{block.where()}: {' '.join(cmd)} exited {done.returncode}:\n"
                                      f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def serve(self, args: list[str]) -> None:
        from alignrec.serving.process import serve_in_subprocess

        self.servers.close()  # one service at a time, as a reader who stopped the last one
        run_dir = self.folder / args[0]
        server = self.servers.enter_context(serve_in_subprocess(run_dir, *args[1:], env=self.env))
        self.port = int(server.url.rsplit(":", 1)[1])


def shrink_movielens(folder: Path) -> None:
    """Keep MovieLens' first ``SMALL_ITEMS`` movies and their ratings: the same tables, a quarter of the work."""
    import pandas as pd

    items = pd.read_csv(folder / "items.csv")
    ratings = pd.read_csv(folder / "ratings.csv")
    items[items["item_id"] <= SMALL_ITEMS].to_csv(folder / "items.csv", index=False)
    ratings[ratings["item_id"] <= SMALL_ITEMS].to_csv(folder / "ratings.csv", index=False)


HOOKS = {"movielens-csv": shrink_movielens}


def run_page(page: Path, folder: Path) -> PageRun:
    """Run ``page``'s blocks in ``folder``; the working directory and torch's threads (``--threads 1`` sets them
    for the whole process) are given back afterwards, so the tests that follow run as before."""
    import torch

    runner = PageRun(folder, HOOKS)
    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(folder)
    try:
        for block in blocks_of(page):
            if block.action in ("run", "file"):
                runner.run(block)
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)
        runner.servers.close()
    return runner


@pytest.fixture(scope="module")
def movielens_cache(movielens: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An alignrec cache whose ``movielens-100k`` holds the test data's MovieLens files, as after the quickstart."""
    cache = tmp_path_factory.mktemp("docs-cache")
    target = cache / "movielens-100k" / "ml-100k"
    target.mkdir(parents=True)
    for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user"):
        (target / name).symlink_to(movielens / name)
    return cache


@pytest.fixture(scope="module")
def toured(movielens_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder the README's five-minute tour leaves: data/movies with its text feature, two trained runs."""
    folder = tmp_path_factory.mktemp("tour")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNREC_CACHE", str(movielens_cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        started = time.monotonic()
        runner = run_page(README, folder)
        print(f"README: {time.monotonic() - started:.1f} s\n" + "\n".join(runner.log))
    yield folder


def test_every_command_block_says_whether_it_runs() -> None:
    unmarked = [b.where() for page in PAGES for b in blocks_of(page)
                if b.language in CHECKED_LANGUAGES and not b.action]
    assert not unmarked, f"add <!-- docs-test: run|skip REASON|file NAME --> before: {unmarked}"
    reasonless = [b.where() for page in PAGES for b in blocks_of(page) if b.action == "skip" and not b.argument]
    assert not reasonless, f"say why a block is skipped: {reasonless}"


def test_the_readme_sets_up_with_the_ci_test_command() -> None:
    """.ci/run relies on the README's second set-up command being the test command."""
    text = README.read_text()
    assert ". .venv/bin/activate && python -m pytest -q" in text
    assert 'pip install -e ".[all]" && alignrec quickstart' in text


def test_readme_tour_runs(toured: Path) -> None:
    assert (toured / "data" / "movies" / "text_feat.npy").is_file()
    for run in ("lightgcn", "alignrec"):
        assert (toured / "runs" / run / "metrics.json").is_file()
    assert (toured / "report.html").stat().st_size > 10_000


@pytest.mark.parametrize("name", FOLLOW_UPS)
def test_page_runs_after_the_tour(name: str, toured: Path, movielens_cache: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "tour"
    shutil.copytree(toured, folder, symlinks=True)
    monkeypatch.setenv("ALIGNREC_CACHE", str(movielens_cache))
    page = ROOT / "docs" / f"{name}.md"
    assert any(b.action == "run" for b in blocks_of(page)), f"{page.name} runs nothing"
    started = time.monotonic()
    runner = run_page(page, folder)
    print(f"{name}: {time.monotonic() - started:.1f} s\n" + "\n".join(runner.log))


def test_the_parser_reads_markers_and_continuations(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n\n<!-- docs-test: skip needs a GPU -->\n```bash\nalignrec train x \\\n    --epochs 3  # c\n"
                    "# only a comment\n```\n\n```python\nprint(1)\n```\n")
    first, second = blocks_of(page)
    assert (first.action, first.argument, first.language) == ("skip", "needs a GPU", "bash")
    assert logical_lines(first.code) == ["alignrec train x --epochs 3  # c"]
    assert (second.action, second.language) == ("", "python")


def test_reference_pages_follow_the_registry_and_the_parsers() -> None:
    """docs/gen_reference.py gives every registered model and every command a page, from the code itself."""
    import dataclasses
    import importlib.util

    from alignrec.cli import build_parser
    from alignrec.models import available_models, model_class

    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    models = gen.model_pages()
    for name in available_models():
        page, cls = models[f"{name}.md"], model_class(name)
        assert gen.summary_line(cls) in page
        assert all(f"`{f.name}`" in page for f in dataclasses.fields(cls.Params)), name
        assert all(f"`{path}`" in page for path in cls.search_space), name
        assert f"[{name}]({name}.md)" in models["SUMMARY.md"]
    commands = gen.cli_pages()
    for name, _, parser in gen.subcommands(build_parser()):
        page = commands[f"{name}.md"]
        flags = [opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")]
        assert all(f"`{flag}" in page for flag in flags if flag != "--help"), name
    assert {"train.md", "serve.md", "import.md", "index.md", "SUMMARY.md"} <= set(commands)


def test_the_readme_marks_its_leaderboards() -> None:
    """The leaderboard tables sit between markers that the lead's updates look for."""
    text = README.read_text()
    for name in ("amazon", "movielens"):
        start, end = f"<!-- leaderboard:{name} -->", f"<!-- /leaderboard:{name} -->"
        assert text.count(start) == 1 and text.count(end) == 1
        table = text.split(start)[1].split(end)[0]
        assert "| model | Recall@20 |" in table and table.count("\n| ") >= 3


def test_every_public_name_has_an_api_reference() -> None:
    """Each name of ``alignrec.__all__`` is rendered by a mkdocstrings directive on an API page."""
    import alignrec

    directives = {line.split(":::", 1)[1].strip().rsplit(".", 1)[-1]
                  for page in (ROOT / "docs" / "reference" / "api").glob("*.md")
                  for line in page.read_text().splitlines() if line.startswith(":::")}
    assert set(alignrec.__all__) <= directives, sorted(set(alignrec.__all__) - directives)
