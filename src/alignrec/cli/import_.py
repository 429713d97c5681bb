"""``alignrec import``: raw tables (CSV/TSV/Parquet) or the Book-Crossing CSVs to a dataset folder."""

from __future__ import annotations

import argparse

from alignrec.cli.common import print_json
from alignrec.content.importers import ImportConfig, run_import

EXAMPLES = """examples:
  alignrec import tables --items items.parquet --interactions ratings.csv --out data/shop \\
      --item-col sku --text-cols title brand --image-col image --user-col user --interaction-item-col item \\
      --rating-col stars --timestamp-col ts
  alignrec import book-crossing ../shared/data/book-crossing --out data/bx --max-ratings 100000
then: alignrec data info data/shop; alignrec encode data/shop --out data/shop --text minilm
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="raw tables or Book-Crossing to a dataset folder", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("format", choices=["tables", "book-crossing"])
    p.add_argument("source", nargs="?", default=".", help="book-crossing: the folder with BX-*.csv(.gz)")
    p.add_argument("--out", required=True, help="dataset folder to write (RecBole layout + import_report.json)")
    p.add_argument("--items", help="tables: items table (item id, text columns, optional image path)")
    p.add_argument("--interactions", help="tables: interactions table (user, item, optional rating/timestamp)")
    p.add_argument("--item-col", default="item_id")
    p.add_argument("--text-cols", nargs="+", help="default: every items column but the id and image columns")
    p.add_argument("--image-col")
    p.add_argument("--image-root", help="relative image paths start here (default: the items table's folder)")
    p.add_argument("--user-col", default="user_id")
    p.add_argument("--interaction-item-col", help="the interactions table's item column (default: --item-col)")
    p.add_argument("--rating-col")
    p.add_argument("--timestamp-col")
    p.add_argument("--name", help="dataset file names (default: the --out folder's name)")
    p.add_argument("--max-ratings", type=int, help="book-crossing: only the first N ratings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = ImportConfig(format=args.format, items=args.items, interactions=args.interactions,
                          item_col=args.item_col, text_cols=args.text_cols, image_col=args.image_col,
                          user_col=args.user_col, rating_col=args.rating_col, timestamp_col=args.timestamp_col,
                          image_root=args.image_root, interaction_item_col=args.interaction_item_col, name=args.name,
                          max_ratings=args.max_ratings)
    print_json(run_import(config, args.source, args.out))
    return 0
