#!/usr/bin/env python3
"""Make docs/screenshot.png: the demo's gallery and index (run `python demo.py --no-launch` first),
a photo dropped on the page, "strong matches only" ticked, the first result opened. Needs Debian's
chromium and Playwright.

    python scripts/screenshot.py [--photo NAME] [--out docs/screenshot.png]
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
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    args = p.parse_args()
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
            seconds = timed(page, lambda: drop_file(page, photo), f"photos like {photo.name}")
            timed(page, lambda: page.locator("#strong input").check(), "strong match")
            page.locator("#results img").first.click()
            page.wait_for_function("[...document.querySelectorAll('#detail-image img')]"
                                   ".some(i => i.complete && i.naturalWidth > 0)")
            save_screenshot(page, Path(args.out))
            browser.close()
        app.close()
    print(f"{args.out}: dropped {photo.name}, results on screen {seconds:.3f} s after the drop; "
          "strong matches only")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
