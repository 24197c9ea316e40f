"""The web UI in a real browser (Debian's chromium driven by Playwright): load the page, search by
words (Enter), drop a photo, open a result, "more like this". Prints click-to-results times and
saves a screenshot (also to $PIXSEEK_SCREENSHOT when set, e.g. docs/screenshot.png)."""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

import pytest

from pixseek import Query
from ui_support import ARGS, CHROMIUM, RESULT_IMGS, drop_file, query_gallery, running_app, save_screenshot, timed

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


def test_filters_strong_matches_copies_and_load_more_in_the_page(photo_dir, tiny_clip, tmp_path):
    """The query options as a user reaches them: load more, an orientation and a folder filter, a
    dropped photo with "strong matches only" (the count in the status line), every copy."""
    from playwright.sync_api import sync_playwright

    source = query_gallery(photo_dir, tmp_path / "source")
    with running_app(source, tmp_path, tiny_clip) as (url, lib, gallery), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        failed = []
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(url)
        box = page.locator("#query-text textarea, #query-text input").first
        box.wait_for()

        def captions() -> list[str]:
            return page.locator("#results .caption-label").all_inner_texts()

        box.fill("a photo")
        timed(page, lambda: box.press("Enter"), "24 photos for “a photo”")
        first_page = captions()
        assert len(first_page) == 24 and page.locator("#load-more").is_visible()
        more_time = timed(page, lambda: page.locator("#load-more").click(), "48 photos for “a photo”")
        assert captions()[:24] == first_page and len(set(captions())) == 48

        # Filters: they re-run the query on screen as soon as they change.
        page.locator("#refine").get_by_text("Filters and weights").click()
        filter_time = timed(page, lambda: page.locator("#orientation").get_by_text("portrait").click(),
                            "portrait (1 pass)")
        assert [c.split(" · ")[1] for c in captions()] == ["tall-rocket.jpg"]
        timed(page, lambda: page.locator("#orientation").get_by_text("any").click(), "24 photos for “a photo”")
        folder = page.locator("#under input")
        folder.click()
        options = page.locator("#under [role=option]")
        options.first.wait_for()
        offered = options.all_inner_texts()
        assert any(str(gallery) in o for o in offered) and any("All folders" in o for o in offered), offered
        folder.fill(str(gallery / "backup"))
        timed(page, lambda: folder.press("Enter"), "(2 pass)")
        (only,) = captions()  # the two backups are one picture: one result, the other as its copy
        assert only.split(" · ", 1)[1] in ("chelsea.jpg · +1 copy", "chelsea-copy.jpg · +1 copy"), only
        timed(page, lambda: page.locator("#all-copies input").check(), "2 photos for")
        assert sorted(c.split(" · ")[1] for c in captions()) == ["chelsea-copy.jpg", "chelsea.jpg"]
        timed(page, lambda: page.locator("#all-copies input").uncheck(), "1 photo for")
        folder.click()
        timed(page, lambda: options.get_by_text("All folders").click(), "24 photos for")

        # A dropped photo, then only what stands out for it: the count is in the status line.
        box.fill("")
        timed(page, lambda: drop_file(page, gallery / "coffee.jpg", "my-coffee.jpg"), "photos like my-coffee.jpg")
        strong_time = timed(page, lambda: page.locator("#strong input").check(), "strong matches")
        status = page.locator("#search-status").inner_text()
        strong = int(status.split(" strong match")[0].rsplit(" · ", 1)[1])
        assert strong == lib.query(Query(images=[(gallery / "coffee.jpg").read_bytes()], strong=True)).strong
        assert 0 < strong < 24 and len(captions()) == strong and not page.locator("#load-more").is_visible()
        assert not any("blank" in c for c in captions())  # the grey frames do not stand out
        browser.close()

    assert failed == [], failed
    print(f"\nclick-to-results (chromium, tiny CLIP, 62 files): load more {more_time:.3f} s; "
          f"orientation filter {filter_time:.3f} s; strong toggle {strong_time:.3f} s")


def test_add_a_folder_completes_the_typed_path_and_the_folder_filter_lists_it(photo_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    (tmp_path / "to-add" / "Holidays 2024").mkdir(parents=True)
    shutil.copy(photo_dir / "coffee.jpg", tmp_path / "to-add" / "Holidays 2024" / "coffee.jpg")
    (tmp_path / "to-add" / "Holidays.txt").write_text("a file, never offered")
    with running_app(photo_dir, tmp_path, "fake:pixels") as (url, lib, gallery), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.get_by_role("tab", name="Library").click()
        box = page.locator("#folder textarea, #folder input").first
        box.click()
        box.press_sequentially(str(tmp_path / "to-add" / "Hol"), delay=20)
        page.locator("#folder-suggestions input").first.click()
        option = page.get_by_role("option", name=str(tmp_path / "to-add" / "Holidays 2024"))
        option.wait_for(timeout=30_000)
        assert page.get_by_role("option").count() == 1  # the folder, not the file beside it
        option.click()
        page.wait_for_function("(p) => document.querySelector('#folder textarea, #folder input').value === p",
                               arg=str(tmp_path / "to-add" / "Holidays 2024"), timeout=30_000)
        page.locator("#add-folder").click()
        page.wait_for_function("() => document.querySelector('#index-progress')?.innerText.includes('1 added')",
                               timeout=60_000)
        # The Search tab's folder filter lists it without a page reload.
        page.get_by_role("tab", name="Search").click()
        page.locator("#refine").first.click()
        page.locator("#under input").first.click()
        page.get_by_role("option", name=str(tmp_path / "to-add" / "Holidays 2024")).wait_for(timeout=30_000)
        browser.close()
