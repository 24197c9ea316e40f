"""The Duplicates tab in a real browser (Debian's chromium driven by Playwright): find, change a
keeper, untick groups, apply a move after the confirmation, undo in one click."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from test_ui_dedup import digest, dup_photos  # noqa: F401 - the gallery with real copies
from ui_support import ARGS, CHROMIUM, running_app, save_screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed "
                       "(scripts/install-browser.sh installs Debian's)"),
]

CARD_IMGS = "[...document.querySelectorAll('.px-dup-group img')]"


def status_has(page, text: str) -> None:
    page.wait_for_function("(t) => document.querySelector('#dups-status')?.innerText.includes(t)", arg=text,
                           timeout=60_000)


def test_review_move_and_undo_in_the_browser(dup_photos, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with running_app(dup_photos, tmp_path, "fake:pixels") as (url, lib, gallery), sync_playwright() as pw:
        before = digest(gallery)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        failed = []
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(url)
        page.get_by_role("tab", name="Duplicates").click()
        page.locator("#find-dups").click()
        status_has(page, "3 groups")
        page.wait_for_function(f"{CARD_IMGS}.length === 6", timeout=60_000)
        page.locator(".px-dup-group img").last.scroll_into_view_if_needed()  # the gallery loads lazily
        page.wait_for_function(f"{CARD_IMGS}.length === 6 && {CARD_IMGS}.every(i => i.complete && i.naturalWidth > 0)",
                               timeout=60_000)
        sizes = page.evaluate(f"{CARD_IMGS}.map(i => [i.naturalWidth, i.naturalHeight])")
        assert all(max(s) <= 320 for s in sizes), sizes  # thumbnails, never the originals

        # Keep the byte copy of coffee.jpg instead; leave the other groups alone.
        # (gr.Group repeats its elem_id on an inner div: hence .first)
        page.get_by_label("coffee-copy.jpg").first.check()
        page.wait_for_function("() => [...document.querySelectorAll('.px-dup-group')].some("
                               "c => c.innerText.includes('KEEP · coffee-copy.jpg'))", timeout=30_000)
        for n in range(3):
            card = page.locator(f"#dup-group-{n}").first
            if "coffee-copy.jpg" not in card.inner_text():
                card.get_by_label("Include in the action").uncheck()
                page.wait_for_timeout(300)  # the choice round-trips through the session state
        page.locator("#dups-move-to textarea, #dups-move-to input").first.fill(str(tmp_path / "quarantine"))
        page.locator("#dups-apply").click()
        page.wait_for_function("() => document.querySelector('#dups-question')?.innerText.startsWith("
                               "'Move 1 file from 1 group')", timeout=30_000)
        save_screenshot(page, tmp_path / "duplicates.png")
        if os.environ.get("PIXSEEK_DUP_SCREENSHOT"):
            save_screenshot(page, Path(os.environ["PIXSEEK_DUP_SCREENSHOT"]))
        page.locator("#dups-yes").click()
        status_has(page, "Moved 1 file")
        assert not (gallery / "coffee.jpg").exists() and (gallery / "coffee-copy.jpg").exists()
        moved = next((tmp_path / "quarantine").rglob("coffee.jpg"))
        assert hashlib.sha256(moved.read_bytes()).hexdigest() == before["coffee.jpg"]

        page.locator("#dups-undo").click()
        status_has(page, "Restored 1 file")
        status_has(page, "3 groups")
        assert digest(gallery) == before
        assert failed == []
        browser.close()
