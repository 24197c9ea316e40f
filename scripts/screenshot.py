#!/usr/bin/env python3
"""Make docs/screenshot.png: the demo's gallery and index (run `python demo.py --no-launch` first),
a photo dropped on the page, "strong matches only" ticked, the first result opened; with
``--tab duplicates``, docs/screenshot-duplicates.png: the Duplicates tab after "Find duplicates"
(similar shots included), its groups on screen. Needs Debian's chromium and Playwright
(scripts/install-browser.sh).

    python scripts/screenshot.py [--photo NAME] [--out docs/screenshot.png]
    python scripts/screenshot.py --tab duplicates [--out docs/screenshot-duplicates.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import pixseek  # noqa: E402
from pixseek.config import data_dir  # noqa: E402
from pixseek.samples import sample_gallery_dir  # noqa: E402
from pixseek.ui import launch  # noqa: E402
from ui_support import ARGS, CHROMIUM, drop_file, free_port, save_screenshot, timed  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photo", default="mate-backgrounds/nature-FreshFlower.jpg",
                   help="the photo to drop, relative to the sample gallery")
    p.add_argument("--tab", choices=["search", "duplicates"], default="search", help="which tab to capture")
    p.add_argument("--out", help="the PNG to write (default: docs/screenshot.png, or "
                   "docs/screenshot-duplicates.png with --tab duplicates)")
    args = p.parse_args()
    args.out = args.out or str(ROOT / "docs" / ("screenshot-duplicates.png" if args.tab == "duplicates"
                                                else "screenshot.png"))
    photo = sample_gallery_dir() / args.photo
    with pixseek.open(data_dir() / "demo") as lib:
        if not lib.status().images:
            sys.exit("no demo index: run `python demo.py --no-launch` first")
        lib.encoder  # noqa: B018 - loaded before the page opens: the status line shows a warm search
        app, url = launch(lib, port=free_port(), block=False)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url)
            page.locator("#query-photo").wait_for()
            if args.tab == "duplicates":
                said = duplicates_view(page)
            else:
                seconds = timed(page, lambda: drop_file(page, photo), f"photos like {photo.name}")
                timed(page, lambda: page.locator("#strong input").check(), "strong match")
                page.locator("#results img").first.click()
                page.wait_for_function("[...document.querySelectorAll('#detail-image img')]"
                                       ".some(i => i.complete && i.naturalWidth > 0)")
                said = f"dropped {photo.name}, results on screen {seconds:.3f} s after the drop; strong matches only"
            save_screenshot(page, Path(args.out))
            browser.close()
        app.close()
    print(f"{args.out}: {said}")
    return 0


def duplicates_view(page) -> str:
    """The Duplicates tab with similar shots included, once its groups and thumbnails are shown."""
    page.get_by_role("tab", name="Duplicates").click()
    page.locator("#dups-similar input").check()
    page.locator("#find-dups").click()
    page.wait_for_function("() => /group|No duplicates/.test(document.querySelector('#dups-status')?.innerText || '')",
                           timeout=300_000)
    page.wait_for_function("(() => { const imgs = [...document.querySelectorAll('.px-dup-group img')];"
                           " return imgs.length > 0 && imgs.every(i => i.complete); })()"
                           " || /No duplicates/.test(document.querySelector('#dups-status')?.innerText || '')",
                           timeout=60_000)
    return page.locator("#dups-status").inner_text().splitlines()[0]


if __name__ == "__main__":
    raise SystemExit(main())
