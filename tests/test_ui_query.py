"""The Search tab's query options through the UI's HTTP API (gradio_client): "but not" terms and
weights, filters, strong matches with their count, collapsed copies, and "load more" paging through
the same ranking. Each answer is checked against what the files are (dates, sizes, folders) and
against ``Library.query`` asked the same thing: the UI must only translate.

The app serves ``ui_support.query_gallery`` (62 files: photos, crops of one, a portrait, blank
frames, copies) with a tiny seeded CLIP, once for the module."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from pixseek import Filters, Query
from ui_support import query_gallery, running_app

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def served(photo_dir, tiny_clip, tmp_path_factory):
    source = query_gallery(photo_dir, tmp_path_factory.mktemp("query-ui") / "source")
    with running_app(source, tmp_path_factory.mktemp("query-ui-app"), tiny_clip) as (url, lib, gallery):
        yield url, lib, gallery


@pytest.fixture
def client(served, tmp_path):
    """A fresh browser session: its own query, photo and results."""
    return gradio_client.Client(served[0], verbose=False, download_files=str(tmp_path / "downloads"))


def names(items) -> list[str]:
    return [item["caption"].split(" · ")[1] for item in items]


def expected(lib, query: Query, exclude_ids=()) -> list[str]:
    return [Path(h.path).name for h in lib.query(query, exclude_ids=exclude_ids)]


@pytest.fixture(scope="module")
def coffee_upload(served, tmp_path_factory) -> Path:
    """coffee.jpg turned by 3 degrees: a photo the index has never seen (upload bytes are not kept)."""
    path = tmp_path_factory.mktemp("upload") / "my-coffee.jpg"
    with Image.open(served[2] / "coffee.jpg") as im:
        im.rotate(3).save(path, quality=80)
    return path


def search_photo(client, path: Path, **form):
    _, _, items, status = client.predict(gradio_client.handle_file(str(path)), api_name="/search_by_photo", **form)
    return items, status


def test_but_not_terms_and_weights_make_the_library_query(client, served, coffee_upload):
    _, lib, _ = served
    plain, _ = client.predict("a photo", 12, api_name="/search")
    items, status = client.predict("a photo", 12, negatives="people, a dog", api_name="/search")
    assert names(items) == expected(lib, Query(text="a photo", negatives=["people", "a dog"], k=12))
    assert names(items) != names(plain)
    assert "“a photo” − “people”, “a dog” · " in status
    items, status = client.predict("a photo", 12, negatives="people, a dog", not_weight=0.3, api_name="/search")
    assert names(items) == expected(lib, Query(text="a photo", negatives=["people", "a dog"],
                                               weights=[1, 0.3, 0.3], k=12))
    assert "“a dog” (weight 0.3)" in status
    # Words and a dropped photo, the photo weighing a quarter of the words.
    items, status = search_photo(client, coffee_upload, text="a rocket", k=12, photo_weight=0.25)
    want = Query(text="a rocket", images=[coffee_upload.read_bytes()], weights=[1, 0.25], k=12)
    assert names(items) == expected(lib, want)
    assert "“a rocket” + photos like <code>my-coffee.jpg</code> (weight 0.25)" in status
    # The photo stays in the query until forgotten; then "but not" alone has nothing to look for.
    _, status = client.predict("", 12, negatives="people", api_name="/search")
    assert status.startswith("12 photos for photos like <code>my-coffee.jpg</code> − “people”")
    client.predict(api_name="/forget_photo")
    _, status = client.predict("", 12, negatives="people", api_name="/search")
    assert status.startswith("⚠️") and "empty" in status and "\n" not in status


def test_filters_keep_exactly_the_matching_photos(client, served):
    _, lib, gallery = served
    trip = {p.name for p in (gallery / "trip").iterdir()}
    items, status = client.predict("a photo", 24, under=str(gallery / "trip"), api_name="/search")
    assert sorted(names(items)) == sorted(trip) and f"under {gallery / 'trip'} (9 pass)" in status
    assert "(all there is)" in status
    items, status = client.predict("a photo", 24, since="2021", until="2021-07", api_name="/search")
    assert sorted(names(items)) == [f"coffee-edit{i}.jpg" for i in range(1, 9)]  # July, not September
    assert "since 2021, until 2021-07 (8 pass)" in status
    items, _ = client.predict("a photo", 24, orientation="portrait", api_name="/search")
    assert names(items) == ["tall-rocket.jpg"]
    items, _ = client.predict("a photo", 24, min_size="600x400", api_name="/search")
    big = set()
    for path in gallery.rglob("*.*"):
        with Image.open(path) as im:
            if im.width >= 600 and im.height >= 400:
                big.add(path.name)
    assert set(names(items)) == big and len(big) == 4
    # The same ranking as the library's, with every filter at once.
    form = dict(under=str(gallery), since="2019-06", orientation="landscape", min_size="200")
    items, _ = client.predict("a cup of coffee", 12, api_name="/search", **form)
    filters = Filters(under=str(gallery), since="2019-06", orientation="landscape", min_size="200")
    assert names(items) == expected(lib, Query(text="a cup of coffee", filters=filters, k=12))


def test_no_match_and_bad_filter_values_say_why_in_one_line(client, served):
    _, _, gallery = served
    items, status = client.predict("a photo", 6, under=str(gallery / "trip"), until="2019", api_name="/search")
    assert items == [] and "no indexed image matches the filters" in status and "⚠️" not in status
    items, _ = client.predict("a photo", 6, api_name="/search")
    for bad, why in [(dict(since="last summer"), "is not a date"), (dict(min_size="huge"), "is not a size"),
                     (dict(since="2022", until="2021"), "nothing can match")]:
        _, status = client.predict("a photo", 6, api_name="/search", **bad)
        assert status.startswith("⚠️") and why in status and "\n" not in status, (bad, status)
        assert "--" not in status and ("Taken since" in status or "At least" in status), status  # the UI's words
    # The photo endpoint takes raw values (no Gradio checks): the library still answers in one line,
    # and the photo is kept in the query for the next try.
    _, shown, _, status = client.predict(gradio_client.handle_file(str(gallery / "moon.jpg")), "", 6,
                                         orientation="diagonal", api_name="/search_by_photo")
    assert status.startswith("⚠️") and "unknown orientation" in status and "moon.jpg" in shown
    _, info = client.predict(0, api_name="/detail")  # the earlier results are still there to open
    assert names(items)[0] in info


def test_strong_matches_are_counted_and_load_more_pages_through_them(client, served, coffee_upload):
    _, lib, _ = served
    full = lib.query(Query(images=[coffee_upload.read_bytes()], strong=True, k=100))
    assert 6 < full.strong < len(lib.store)  # the crops and photos stand out, the blank frames do not
    items, status = search_photo(client, coffee_upload, k=6, strong=True)
    assert len(items) == 6 and f" · {full.strong} strong matches · " in status
    seen = names(items)
    while "(all there is)" not in status:
        items, status = client.predict(6, api_name="/load_more")
        assert names(items)[:len(seen)] == seen  # the earlier pages stay as they were
        seen = names(items)
    assert seen == [Path(h.path).name for h in full] and len(seen) == full.strong
    assert len(set(seen)) == len(seen)
    # The strong toggle off: the same photo, every file (62, chelsea's copies folded into one result).
    items, status = search_photo(client, coffee_upload, k=96)
    assert "strong" not in status and len(items) == len(lib.store) - 2


def test_load_more_with_filters_gives_the_next_rows_of_the_same_ranking(client, served):
    _, lib, gallery = served
    blanks = str(gallery / "blanks")
    items, status = client.predict("a photo", 12, under=blanks, api_name="/search")
    pages = [names(items)]
    while "(all there is)" not in status:
        items, status = client.predict(12, api_name="/load_more")
        pages.append(names(items)[sum(map(len, pages)):])
    assert [len(p) for p in pages] == [12, 12, 12, 4]
    want = expected(lib, Query(text="a photo", filters=Filters(under=blanks), k=40))
    assert sum(pages, []) == want and "(40 pass)" in status


def test_copies_show_once_with_a_count_unless_asked_for_each(client, served):
    _, lib, gallery = served
    chelsea = gallery / "chelsea.jpg"
    items, _ = search_photo(client, chelsea, k=6)
    assert re.fullmatch(r"1\.00 · chelsea(-copy)?\.jpg · \+2 copies", items[0]["caption"])
    assert all("chelsea" not in name for name in names(items)[1:])
    _, info = client.predict(0, api_name="/detail")
    assert "**Copies** (+2 copies" in info and info.count("chelsea") >= 3
    items, _ = search_photo(client, chelsea, k=6, all_copies=True)
    assert sorted(names(items)[:3]) == ["chelsea-copy.jpg", "chelsea.jpg", "chelsea.jpg"]
    assert all(item["caption"].startswith("1.00 · ") for item in items[:3])
    assert "+" not in " ".join(item["caption"] for item in items)
    # A copy that a filter leaves out is not counted: the backups are dated 2020.
    items, _ = search_photo(client, chelsea, k=6, until="2019")
    assert items[0]["caption"] == "1.00 · chelsea.jpg"


def test_more_like_this_keeps_the_options_of_the_form(client, served):
    _, lib, gallery = served
    items, _ = client.predict("a photo", 6, orientation="portrait", api_name="/search")
    assert names(items) == ["tall-rocket.jpg"]
    shown, text, items, status = client.predict(0, 12, orientation="landscape", api_name="/more_like_this")
    row = lib.catalog.row_by_path(str(gallery / "trip" / "tall-rocket.jpg"))
    want = expected(lib, Query(images=[row.path], filters=Filters(orientation="landscape"), k=12), [row.id])
    assert names(items) == want and "tall-rocket.jpg" not in names(items)
    assert "landscape" in status and text == ""


def test_the_folder_filter_offers_the_indexed_folders_and_keeps_its_value(client, served):
    _, _, gallery = served
    update = client.predict(str(gallery / "trip"), api_name="/folders")
    assert update["choices"] == [["All folders", ""], [str(gallery), str(gallery)]]
    assert update["value"] == str(gallery / "trip")  # a typed sub-folder survives the refresh


def test_the_form_becomes_one_library_query():
    import numpy as np

    from pixseek.errors import QueryError
    from pixseek.types import EncodedQuery
    from pixseek.ui.query_form import SearchForm

    photo = EncodedQuery(vector=np.ones(4, np.float32) / 2, exclude=(7,), image="x.jpg")
    form = SearchForm(text=" a beach ", k=12.0, negatives="people, , umbrellas ", photo_weight=0.5,
                      not_weight="0.3", orientation="Landscape", since="2021", strong=True, all_copies=True)
    query = form.query(photo, offset=24)
    assert (query.text, query.negatives, query.weights) == ("a beach", ("people", "umbrellas"), (1, 0.5, 0.3, 0.3))
    assert (query.k, query.offset, query.strong, query.collapse) == (12, 24, True, False)
    assert query.filters == Filters(since="2021", orientation="landscape")
    assert SearchForm(text="x").query(None).weights is None  # the library's defaults, untouched
    assert not SearchForm(negatives="people").has_terms(None) and SearchForm().has_terms(photo)
    for bad in (dict(k=0), dict(k=500), dict(photo_weight="heavy"), dict(not_weight=float("nan"))):
        with pytest.raises(QueryError):
            SearchForm(text="x", **bad)
