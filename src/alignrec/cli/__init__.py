"""The ``alignrec`` command line: a thin layer over the Python API.

Each command lives in its own module with ``register(subparsers)``; add a module to ``COMMANDS`` to add a
command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from alignrec import __version__
from alignrec.errors import AlignRecError, DataWarning

# command name -> module; ``cli/forget.py`` registers both 'forget' and 'forget-check'
COMMANDS = {name: name for name in ("train", "evaluate", "recommend", "data", "models", "quickstart", "features",
                                    "compare", "report", "encode", "pretrain", "run", "forget", "tune",
                                    "benchmark", "export", "serve")}
COMMANDS["import"] = "import_"  # ``import`` is a Python keyword

EPILOG = """examples:
  alignrec quickstart
  alignrec data info ../shared/data/amazon-scientific
  alignrec train ../shared/data/amazon-scientific --model alignrec --run-dir runs/sci-alignrec
  alignrec evaluate runs/sci-alignrec
  alignrec recommend runs/sci-alignrec --user 0 -k 10
  alignrec serve runs/sci-alignrec
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alignrec", description="Multimodal recommendation with AlignRec.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"alignrec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(f"alignrec.cli.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.simplefilter("always", DataWarning)
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        return int(args.func(args) or 0)
    except AlignRecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
