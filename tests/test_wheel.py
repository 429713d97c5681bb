"""The package as a user installs it: a wheel built from this checkout, installed into a fresh virtualenv, run from a
folder outside the source tree.

The fresh virtualenv gets the installed wheel and nothing else of alignrec. Its dependencies (torch, numpy, ...)
come from the interpreter that runs the tests, so nothing is downloaded. ``--system-site-packages`` alone would
not give them when the tests themselves run in a virtualenv (it exposes the base interpreter's packages), so a
``.pth`` file also adds this interpreter's site-packages, *after* the new virtualenv's own. A ``.pth`` entry is
only a path, so the editable install of the checkout found there (its finder is started by a ``.pth`` file of
its own) stays inactive, and ``import alignrec`` must find the wheel's copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import alignrec
from alignrec.models import available_models
from tests.conftest import ROOT


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (f"{' '.join(cmd)} exited {done.returncode}:\n"
                                  f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the checkout, built from a copy of what packaging reads (pyproject, README, src/), so the
    build writes nothing into the checkout. The venv's setuptools builds it: no download."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        source, dict(os.environ))
    (built,) = out.glob("alignrec-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """``(virtualenv, its environment, a working folder outside the source tree)`` with the wheel installed."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "test-venv-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update({"PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}", "PYTHONWARNINGS": "ignore",
                "OMP_NUM_THREADS": "1"})
    work = tmp_path_factory.mktemp("elsewhere")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        work, env)
    return venv, env, work


def test_the_wheel_carries_one_version_and_the_service_page(wheel: Path) -> None:
    assert wheel.name.startswith(f"alignrec-{alignrec.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"alignrec-{alignrec.__version__}.dist-info/METADATA").decode()
    assert {"alignrec/serving/static/index.html", "alignrec/serving/static/app.js"} <= names
    assert f"\nVersion: {alignrec.__version__}\n" in metadata
    assert not any(name.startswith(("tests/", "benchmarks/", "docs/")) for name in names)


def test_the_installed_copy_runs_outside_the_source_tree(installed: tuple[Path, dict[str, str], Path]) -> None:
    venv, env, work = installed
    script = venv / "bin" / "alignrec"
    assert run([str(script), "--version"], work, env).strip() == f"alignrec {alignrec.__version__}"
    listed = run([str(script), "models"], work, env)
    assert [line.split(":")[0] for line in listed.splitlines() if not line.startswith(" ")] == available_models()
    probe = ("import json, importlib.metadata, importlib.resources, alignrec; "
             "page = importlib.resources.files('alignrec.serving') / 'static' / 'index.html'; "
             "print(json.dumps({'file': alignrec.__file__, 'version': importlib.metadata.version('alignrec'), "
             "'page': str(page), 'page_is_file': page.is_file(), 'html': page.read_text()[:200]}))")
    found = json.loads(run([str(venv / "bin" / "python"), "-c", probe], work, env))
    assert Path(found["file"]).resolve().is_relative_to(venv.resolve()), found["file"]
    assert not Path(found["file"]).resolve().is_relative_to(ROOT.resolve())
    assert found["version"] == alignrec.__version__
    assert found["page_is_file"] and Path(found["page"]).resolve().is_relative_to(venv.resolve())
    assert "<html" in found["html"].lower()
