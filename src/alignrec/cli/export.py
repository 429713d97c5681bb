"""``alignrec export``: write a run's serving export (open formats, no pickle) into RUN_DIR/export."""

from __future__ import annotations

import argparse

from alignrec.runs.export import export_dir, export_run

EXAMPLES = """examples:
  alignrec export runs/quickstart/run
  alignrec export runs/ml-alignrec --image-dir ../shared/data/movielens-100k-posters/posters
(training writes the export itself; this re-writes it, e.g. for a run trained before exports existed)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's export for serving (NumPy/Parquet/JSON)", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--image-dir", help="item images (default: where the dataset's image encoding found them, "
                                       "or the folder's item_images.tsv)")
    p.add_argument("--image-pattern", default="{item_id}.jpg", help="file name in --image-dir ({item_id}, {index})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manifest = export_run(args.run_dir, args.image_dir, args.image_pattern)
    content = manifest.get("content") or {}
    new_items = content.get("new_items", {})
    print(f"export: {export_dir(args.run_dir)}")
    print(f"  {manifest['users']} users, {manifest['items']} items, scoring {manifest['scoring']['kind']}, "
          f"{manifest['images']['with_image']} items with an image")
    print(f"  content space: {content.get('feature') or 'none'}; new items: "
          + (f"from {new_items['modalities']}" if new_items.get("possible") else new_items.get("reason", "no")))
    return 0
