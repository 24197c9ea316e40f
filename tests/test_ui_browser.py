"""The web UI in a real browser (Debian's chromium driven by Playwright): load the page, search by
words (Enter), drop a photo, open a result, "more like this". Prints click-to-results times and
saves a screenshot (also to $PIXSEEK_SCREENSHOT when set, e.g. docs/screenshot.png)."""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

import pytest

from ui_support import ARGS, CHROMIUM, RESULT_IMGS, drop_file, running_app, save_screenshot, timed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed "
                       "(scripts/install-browser.sh installs Debian's)"),
]


def test_search_by_words_and_by_dropped_photo_then_open_a_result(photo_dir, tiny_clip, tmp_path):
    from playwright.sync_api import sync_playwright

    with running_app(photo_dir, tmp_path, tiny_clip) as (url, lib, gallery), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        outside = []  # requests that leave this machine: there must be none
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
        failed = []  # and no request that the server could not answer
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(url)
        box = page.locator("#query-text textarea, #query-text input").first
        box.wait_for()

        # Words, Enter. The first search may still wait for the model; the next ones show the steady state.
        box.fill("a cat on a sofa")
        first = timed(page, lambda: box.press("Enter"), "“a cat on a sofa”")
        text_times = []
        for query in ("a rocket on a launch pad", "the moon", "a cup of coffee"):
            box.fill(query)
            text_times.append(timed(page, lambda: box.press("Enter"), f"“{query}”"))
        sizes = page.evaluate(f"{RESULT_IMGS}.map(i => [i.naturalWidth, i.naturalHeight])")
        assert len(sizes) == 11 and all(max(s) <= 320 for s in sizes), sizes  # thumbnails only

        # A dropped photo (no words: image to image).
        box.fill("")
        photo_time = timed(page, lambda: drop_file(page, gallery / "chelsea.jpg", "dropped-cat.jpg"),
                           "photos like dropped-cat.jpg")
        first_result = page.locator("#results img").first
        assert "chelsea" in page.locator("#results").inner_text().split("\n")[0]  # itself, found first
        uploads = [p for p in Path(os.environ["GRADIO_TEMP_DIR"]).rglob("*") if p.is_file()
                   and p.read_bytes() == (gallery / "chelsea.jpg").read_bytes()]
        assert uploads == [], "the dropped photo was kept on the server"
        assert page.evaluate("[...document.querySelectorAll('#query-example img')].some(i => i.naturalWidth > 0)")

        # Words and the photo together.
        box.fill("a cat")
        both_time = timed(page, lambda: page.locator("#search-btn").click(),
                          "“a cat” + photos like dropped-cat.jpg")

        # Click a result: the large view with its facts, then "more like this".
        first_result.click()
        page.wait_for_function("document.querySelector('#detail-info') && "
                               "document.querySelector('#detail-info').innerText.includes('Dimensions')")
        page.wait_for_function("[...document.querySelectorAll('#detail-image img')]"
                               ".some(i => i.complete && i.naturalWidth > 0)")
        info = page.locator("#detail-info").inner_text()
        name = info.split("\n")[0].strip()
        assert (gallery / name).is_file() and str(gallery / name) in info
        assert "px" in info and "File size" in info and "Taken" in info
        save_screenshot(page, tmp_path / "screenshot.png")
        if os.environ.get("PIXSEEK_SCREENSHOT"):
            shutil.copy(tmp_path / "screenshot.png", os.environ["PIXSEEK_SCREENSHOT"])
        like_time = timed(page, lambda: page.locator("#more-like-this").click(), f"photos like {name}")
        assert name not in page.locator("#results").inner_text()
        browser.close()

    assert outside == [], f"the page fetched from other hosts: {outside[:3]}"
    assert failed == [], failed
    assert (tmp_path / "screenshot.png").stat().st_size < 300_000
    print(f"\nclick-to-results (chromium, tiny CLIP, 11 photos): first text search {first:.3f} s; "
          f"text (median of 3) {statistics.median(text_times):.3f} s; dropped photo {photo_time:.3f} s; "
          f"words + photo {both_time:.3f} s; more like this {like_time:.3f} s")
