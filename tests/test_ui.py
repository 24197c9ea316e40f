"""The web UI through its real HTTP API (gradio_client), one test per endpoint, plus what it refuses
to serve. The app runs once for the module on a free loopback port with a tiny seeded CLIP."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from ui_support import running_app

gradio_client = pytest.importorskip("gradio_client")

ENDPOINTS = {"/search", "/search_by_photo", "/forget_photo", "/load_more", "/detail", "/more_like_this",
             "/folders", "/library", "/index_folder", "/rescan", "/index_progress",
             "/find_duplicates", "/choose", "/review_action", "/apply_duplicates", "/undo_last", "/not_duplicates"}


@pytest.fixture(scope="module")
def served(photo_dir, tiny_clip, tmp_path_factory):
    with running_app(photo_dir, tmp_path_factory.mktemp("ui"), tiny_clip) as (url, lib, gallery):
        yield url, lib, gallery


@pytest.fixture
def client(served, tmp_path):
    """A fresh browser session (its own query state); downloads go to tmp_path, not the server's folder."""
    return gradio_client.Client(served[0], verbose=False, download_files=str(tmp_path / "downloads"))


def names(gallery_value):
    return [item["caption"].split(" · ")[1] for item in gallery_value]  # score · name[ · +N copies][ · words]


def test_every_endpoint_is_callable_by_name(client):
    assert set(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == ENDPOINTS


def test_search_shows_thumbnails_with_score_and_name_then_loads_more(client, served):
    _, lib, gallery = served
    items, status = client.predict("a cat on a sofa", 6, api_name="/search")
    assert len(items) == 6 and status.startswith("6 photos for “a cat on a sofa”") and " ms" in status
    score, name = items[0]["caption"].split(" · ")[:2]
    assert -1 <= float(score) <= 1 and (gallery / name).is_file()
    for item in items:  # thumbnails, never the originals
        with Image.open(item["image"]) as im:
            assert max(im.size) <= 320
    items2, status = client.predict(6, api_name="/load_more")
    assert len(items2) == 11 and names(items2)[:6] == names(items) and "(all there is)" in status
    assert names(items) == [os.path.basename(h.path) for h in lib.search("a cat on a sofa", k=6)]


def server_files_with(data: bytes) -> list[Path]:
    """Files anywhere in the server's upload/cache folder whose bytes are ``data``."""
    digest = hashlib.sha256(data).digest()
    root = Path(os.environ["GRADIO_TEMP_DIR"])
    return [p for p in root.rglob("*") if p.is_file() and hashlib.sha256(p.read_bytes()).digest() == digest]


def test_search_by_photo_combines_with_words_and_forgets_the_upload(client, served, tmp_path):
    _, lib, gallery = served
    assert os.path.basename(os.environ["GRADIO_TEMP_DIR"]).startswith("pixseek-ui-")  # private, not /tmp/gradio
    upload = tmp_path / "my-query.jpg"
    with Image.open(gallery / "coffee.jpg") as im:
        im.rotate(3).save(upload, quality=80)  # bytes the server has never seen
    zone, shown, items, status = client.predict(gradio_client.handle_file(str(upload)), "", 6,
                                                api_name="/search_by_photo")
    assert names(items)[0] == "coffee.jpg" and "photos like <code>my-query.jpg</code>" in status
    assert zone is None and 'src="data:image/jpeg;base64,' in shown  # shown inline, from no file
    assert server_files_with(upload.read_bytes()) == [], "the uploaded query photo was kept"
    # The photo stays part of the query (as a vector) for the next searches of this session.
    items, status = client.predict("a cup", 6, api_name="/search")
    assert "“a cup” + photos like <code>my-query.jpg</code>" in status
    assert client.predict(api_name="/forget_photo") == ""
    _, status = client.predict("a cup", 6, api_name="/search")
    assert "photos like" not in status


def test_detail_shows_a_preview_and_facts_then_more_like_this(client, served):
    _, lib, gallery = served
    items, _ = client.predict("a rocket", 6, api_name="/search")
    first = names(items)[0]
    preview, info = client.predict(0, api_name="/detail")
    with Image.open(preview) as im:
        assert max(im.size) <= 1280
    row = lib.catalog.row_by_path(str(gallery / first))
    assert f"<code>{gallery / first}</code>" in info and f"{row.width} × {row.height} px" in info
    assert "File size" in info and "Taken" in info
    shown, text, items, status = client.predict(0, 6, api_name="/more_like_this")
    assert text == "" and f"like <code>{first}</code>" in shown
    assert first not in names(items) and f"photos like <code>{first}</code>" in status
    expected = [os.path.basename(h.path) for h in lib.similar(gallery / first, k=6)]
    assert names(items) == expected


def test_user_errors_are_one_line_and_keep_the_results(client, tmp_path):
    items, _ = client.predict("moon", 6, api_name="/search")
    _, status = client.predict("   ", 6, api_name="/search")
    assert status.startswith("⚠️") and "empty" in status and "\n" not in status
    bad = tmp_path / "not-a-photo.jpg"
    bad.write_bytes(b"this is text, not a JPEG")
    _, _, _, status = client.predict(gradio_client.handle_file(str(bad)), "", 6, api_name="/search_by_photo")
    assert status.startswith("⚠️") and "cannot be used" in status
    assert server_files_with(bad.read_bytes()) == []
    # The earlier results are still there to open.
    preview, info = client.predict(0, api_name="/detail")
    assert names(items)[0] in info


def test_library_tab_lists_folders_and_skipped_files(client, served):
    _, lib, gallery = served
    summary, skipped, progress, _ = client.predict(api_name="/library")
    assert f"**{lib.status().images}** photos indexed" in summary and str(gallery) in summary
    assert "words and photos" in summary
    assert skipped["headers"] == ["Skipped file", "Reason"]


def test_add_a_folder_and_watch_it_index(client, served, tmp_path):
    _, lib, _ = served
    new = tmp_path / "new-folder"
    new.mkdir()
    for i in range(5):
        Image.new("RGB", (48, 32), (40 * i, 90, 200)).save(new / f"n{i}.png")
    (new / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    before = lib.status().images
    progress, timer = client.predict(str(new), api_name="/index_folder")
    assert timer["active"] is True and "progress" in progress
    deadline = time.time() + 60
    while True:
        progress, summary, skipped, timer = client.predict(api_name="/index_progress")
        if timer.get("active") is False or time.time() > deadline:
            break
        time.sleep(0.2)
    assert "Indexed new-folder: 5 added" in progress and "1 skipped" in progress
    assert f"**{before + 5}**" in summary and str(new) in summary
    assert [str(new / "broken.jpg")] == [row[0] for row in skipped["data"] if row[0].startswith(str(new))]
    items, _ = client.predict("x", 96, api_name="/search")
    assert {f"n{i}.png" for i in range(5)} <= set(names(items))
    progress, _ = client.predict(str(tmp_path / "no-such-folder"), api_name="/index_folder")
    assert "⚠️" in progress and "not found" in progress
    progress, _ = client.predict(api_name="/rescan")
    assert "progress" in progress


def test_only_thumbnails_are_served(client, served, tmp_path):
    url, lib, gallery = served
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (64, 64), "red").save(outside / "secret.jpg")
    (gallery / "zz-link-out.jpg").symlink_to(outside / "secret.jpg")
    lib.index([gallery])
    try:
        with httpx.Client(base_url=url) as http:
            thumbs = lib.thumb_cache.folder
            refused = ["/etc/passwd", gallery / "chelsea.jpg", f"{gallery}/../../../../etc/passwd",
                       gallery / "zz-link-out.jpg", outside / "secret.jpg", lib.db_dir / "catalog.sqlite",
                       f"{thumbs}/../catalog.sqlite", f"{thumbs}/320/../../vectors.faiss"]
            for path in refused:
                assert http.get(f"/gradio_api/file={path}").status_code == 403, path
            items, _ = client.predict("x", 96, api_name="/search")
            shown = {item["caption"].split(" · ", 1)[1]: item["image"] for item in items}
            # The link pointing out of the folder is indexed, but shown as a grey tile, never its target.
            with Image.open(shown["zz-link-out.jpg"]) as im:
                assert im.getpixel((5, 5)) == (200, 200, 200)
            thumb = lib.thumbnail(gallery / "chelsea.jpg")
            got = http.get(f"/gradio_api/file={thumb}")
            assert got.status_code == 200 and got.content == thumb.read_bytes()
    finally:
        (gallery / "zz-link-out.jpg").unlink()
        lib.index([gallery])
