"""``alignrec report``: one self-contained HTML report (and a Markdown summary) of one or more runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignrec.io import write_text

EXAMPLES = """examples:
  alignrec report runs/sci-lightgcn runs/sci-alignrec -o report.html
  alignrec report runs/sci-alignrec -o sci.html --markdown sci.md
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an HTML report (plus a Markdown summary) of runs", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="the first run is the comparison baseline")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    p.add_argument("--markdown", help="Markdown summary file (default: the output with suffix .md)")
    p.add_argument("--title", default="alignrec report")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for confidence intervals")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alignrec.reporting import collect
    from alignrec.reporting.html import render
    from alignrec.reporting.markdown import summary

    data = collect(args.run_dirs, n_boot=args.bootstrap)
    out = Path(args.output)
    md_path = Path(args.markdown) if args.markdown else out.with_suffix(".md")
    write_text(out, render(data, args.title))
    write_text(md_path, summary(data))
    print(f"wrote {out} and {md_path}")
    return 0
