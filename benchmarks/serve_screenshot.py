"""A screenshot of the service's web page (the README's picture): start ``alignrec serve`` on a run, open the page in
headless Chromium (the system's, driven by Playwright), choose a user, click the first history item, and save the
top of the page as a palette PNG. Example::

    python benchmarks/serve_screenshot.py --run runs/serve-movielens-posters/run --user 1 --out docs/serve-page.png
"""

from __future__ import annotations

import argparse
import shutil
from contextlib import ExitStack
from pathlib import Path

from alignrec.serving.process import serve_in_subprocess

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--run", help="start the service on this run directory")
    target.add_argument("--url", help="a service that is already running")
    parser.add_argument("--api-key", help="the service's API key, if it has one")
    parser.add_argument("--user", required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1400)
    parser.add_argument("--scale", type=float, default=0.75, help="resize the picture by this factor")
    parser.add_argument("--colors", type=int, default=256, help="palette size of the saved PNG (smaller file)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        url = args.url or stack.enter_context(serve_in_subprocess(args.run, "--log-level", "warning")).url
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(f"{url}/" + (f"?api_key={args.api_key}" if args.api_key else ""))
        page.wait_for_function("document.getElementById('user-list').options.length > 0")
        page.fill("#user-input", args.user)
        page.fill("#k-input", str(args.k))
        page.click("#user-form button[type=submit]")
        page.wait_for_function(f"document.querySelectorAll('#recommendations li').length === {args.k}")
        page.click("#history li:first-child")
        page.wait_for_function(f"document.querySelectorAll('#similar li').length === {args.k}")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        raw = args.out.with_suffix(".raw.png")
        page.screenshot(path=str(raw))
        browser.close()
    picture = Image.open(raw).convert("RGB")
    size = (round(picture.width * args.scale), round(picture.height * args.scale))
    picture.resize(size, Image.LANCZOS).quantize(args.colors).save(args.out, optimize=True)
    raw.unlink()
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
