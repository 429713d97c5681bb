"""Memory and time of one image upload's decoding for ``POST /items`` (issue 27, point 6).

Three files are generated: a 140 KB PNG of 12000 x 12000 grey pixels (a decompression bomb), a 24-megapixel JPEG
of one colour and a 24-megapixel JPEG of noise (14 MB). Each is handled in a fresh process, two ways:

* ``full``: what the service did before: PIL's ``verify()``, then a full decode to RGB;
* ``service``: what it does now: :func:`alignrec.serving.newitem.check_image` with the default pixel limit
  (``ServiceOptions.max_image_pixels``), then the image encoder's :func:`alignrec.content.image.load_image`
  (header checked before decoding, JPEGs decoded at a reduced DCT scale).

The peak resident memory added (``ru_maxrss``) and the seconds are printed and written to ``OUT.md``::

    python benchmarks/image_upload_memory.py --out benchmarks/results/image-upload-memory
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path


def png_bomb(width: int, height: int) -> bytes:
    """A valid ``width x height`` 8-bit grey PNG of zeros, compressed row by row (12000 x 12000: about 140 KB)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    packer = zlib.compressobj(9)
    row = bytes(width + 1)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_files(folder: Path) -> list[Path]:
    from PIL import Image

    (folder / "bomb-12000x12000.png").write_bytes(png_bomb(12000, 12000))
    Image.new("RGB", (6000, 4000), (90, 140, 200)).save(folder / "flat-6000x4000.jpg", quality=85)
    Image.effect_noise((6000, 4000), 60).convert("RGB").save(folder / "noise-6000x4000.jpg", quality=85)
    return sorted(folder.iterdir())


def one(mode: str, path: Path) -> str:
    """Handle ``path`` once the ``mode`` way; ``"MB seconds outcome"``."""
    import warnings

    from PIL import Image

    from alignrec.content.image import LITE_MEAN, LITE_STD, load_image
    from alignrec.serving.newitem import check_image
    from alignrec.serving.service import ServiceOptions

    warnings.simplefilter("ignore")
    data, limit = path.read_bytes(), ServiceOptions().max_image_pixels
    warm = io.BytesIO()
    Image.new("L", (1, 1)).save(warm, "PNG")
    Image.open(warm).load()  # PIL imports its format plugins on the first open: not part of what is measured
    before, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    try:
        if mode == "full":
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
            with Image.open(path) as img:
                img.load()
                img.convert("RGB")
        else:
            check_image(data, max_pixels=limit)
            load_image(path, 224, LITE_MEAN, LITE_STD, limit)
        outcome = "decoded"
    except Exception as exc:  # the outcome being measured
        outcome = f"refused ({type(exc).__name__})"
    seconds = time.perf_counter() - t0
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return f"{grown:.0f} {seconds:.4f} {outcome}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write OUT.md")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(one(args.one[0], Path(args.one[1])))
        return 0
    rows = ["| file | size | before: full decode | now: the service's check and load |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for path in make_files(Path(tmp)):
            cells = []
            for mode in ("full", "service"):
                done = subprocess.run([sys.executable, __file__, "--one", mode, str(path)], capture_output=True,
                                      text=True, check=True)
                mb, seconds, outcome = done.stdout.split(" ", 2)
                cells.append(f"+{mb} MB, {float(seconds) * 1000:.1f} ms, {outcome.strip()}")
            rows.append(f"| {path.name} | {path.stat().st_size // 1024} KB | {cells[0]} | {cells[1]} |")
    table = "\n".join(rows) + "\n"
    print(table)
    if args.out:
        Path(f"{args.out}.md").write_text("# One image upload: peak resident memory added and time\n\n"
                                          "`python benchmarks/image_upload_memory.py --out "
                                          "benchmarks/results/image-upload-memory` (one process per cell)\n\n"
                                          + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
