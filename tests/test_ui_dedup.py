"""The Duplicates tab through its real HTTP API (gradio_client): find, choose a keeper, apply a move
and undo it bit-identical, "not duplicates"; plus the tab's pure rendering helpers.

The gallery holds real copies of skimage photos: a byte copy, a PNG of the same pixels, and a
re-saved half-size JPEG; the index uses the ``fake:`` pixel encoder (image-only, milliseconds)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from PIL import Image

from ui_support import running_app

gradio_client = pytest.importorskip("gradio_client")


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dup_photos(photo_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dup-photos")
    shutil.copytree(photo_dir, folder, dirs_exist_ok=True)
    shutil.copy2(folder / "coffee.jpg", folder / "coffee-copy.jpg")  # exact: same bytes
    with Image.open(folder / "rocket.jpg") as im:
        im.save(folder / "rocket.png")  # exact: same pixels, other bytes
    (folder / "resaved").mkdir()
    with Image.open(folder / "chelsea.jpg") as im:
        im.resize((im.width // 2, im.height // 2), Image.LANCZOS).save(folder / "resaved" / "chelsea-small.jpg",
                                                                       quality=70)  # copy: resized, re-encoded
    return folder


@pytest.fixture
def served(dup_photos, tmp_path):
    """A fresh app and index per test: the tests move files and remember decisions."""
    with running_app(dup_photos, tmp_path, "fake:pixels") as (url, lib, gallery):
        yield url, lib, gallery


@pytest.fixture
def client(served, tmp_path):
    return gradio_client.Client(served[0], verbose=False, download_files=str(tmp_path / "downloads"))


def keepers(lib) -> dict[str, str]:
    return {Path(g.keep).name: g.kind for g in lib.duplicates()}


def test_find_shows_the_groups_and_the_no_groups_case(client, served):
    _, lib, gallery = served
    status = client.predict(False, api_name="/find_duplicates")
    assert keepers(lib) == {"coffee.jpg": "exact", "rocket.png": "exact", "chelsea.jpg": "copy"}
    assert status.startswith("3 groups (1 copy, 2 exact), 3 duplicates")
    # Nothing left to find: the byte copy gone, the other two pairs marked as not duplicates.
    (gallery / "coffee-copy.jpg").unlink()
    lib.index([gallery])
    lib.not_duplicate(gallery / "rocket.jpg", gallery / "rocket.png")
    lib.not_duplicate(gallery / "chelsea.jpg", gallery / "resaved" / "chelsea-small.jpg")
    assert client.predict(False, api_name="/find_duplicates").startswith("No duplicates found")


def test_move_with_a_chosen_keeper_then_undo_is_bit_identical(client, served, tmp_path):
    _, lib, gallery = served
    before = digest(gallery)
    client.predict(False, api_name="/find_duplicates")
    groups = lib.duplicates()
    coffee = next(i for i, g in enumerate(groups) if Path(g.keep).name == "coffee.jpg")
    # Keep the copy instead, and leave the other groups alone.
    client.predict(coffee, str(gallery / "coffee-copy.jpg"), True, api_name="/choose")
    for i in range(len(groups)):
        if i != coffee:
            client.predict(i, groups[i].keep, False, api_name="/choose")
    quarantine = tmp_path / "quarantine"
    question, _ = client.predict("move", str(quarantine), api_name="/review_action")
    assert question.startswith("Move 1 file from 1 group to")
    status = client.predict("move", str(quarantine), api_name="/apply_duplicates")
    assert status.startswith("Moved 1 file") and "manifest" in status and "2 groups" in status
    assert not (gallery / "coffee.jpg").exists() and (gallery / "coffee-copy.jpg").exists()
    moved = list(quarantine.rglob("coffee.jpg"))
    assert len(moved) == 1 and hashlib.sha256(moved[0].read_bytes()).hexdigest() == before["coffee.jpg"]
    assert lib.catalog.row_by_path(str(gallery / "coffee.jpg")) is None  # the index follows the files
    status = client.predict(api_name="/undo_last")
    assert status.startswith("Restored 1 file") and "3 groups" in status
    assert digest(gallery) == before  # every file back, bit-identical
    assert client.predict(api_name="/undo_last").startswith("⚠️ nothing to undo")


def test_not_duplicates_is_remembered(client, served):
    _, lib, _ = served
    client.predict(False, api_name="/find_duplicates")
    groups = lib.duplicates()
    rocket = next(i for i, g in enumerate(groups) if Path(g.keep).name == "rocket.png")
    status = client.predict(rocket, api_name="/not_duplicates")
    assert status.startswith(f"Remembered: group {rocket + 1} is not duplicates") and "2 groups" in status
    assert keepers(lib) == {"coffee.jpg": "exact", "chelsea.jpg": "copy"}
    # A later run (a new session) keeps them apart too.
    fresh = gradio_client.Client(served[0], verbose=False)
    assert fresh.predict(False, api_name="/find_duplicates").startswith("2 groups")


def test_errors_are_one_line_messages(client, served, tmp_path):
    _, lib, gallery = served
    _, status = client.predict("move", str(tmp_path / "q"), api_name="/review_action")
    assert status.startswith("⚠️ nothing to do")
    client.predict(False, api_name="/find_duplicates")
    status = client.predict("move", str(gallery / "inside"), api_name="/apply_duplicates")
    assert status.startswith("⚠️") and "\n" not in status and "inside the indexed folder" in status
    assert (gallery / "coffee-copy.jpg").exists()


def test_cards_show_thumbnails_not_originals(served):
    from pixseek.ui.duplicates import evidence_line, member_caption, thumbnails

    _, lib, _ = served
    g = next(g for g in lib.duplicates() if g.kind == "copy")
    items = thumbnails(lib, g, g.keep)
    captions = sorted(caption for _, caption in items)
    assert captions[0].startswith("KEEP · chelsea.jpg · 451×300 · ") and " KB · file 20" in captions[0]
    assert captions[1].startswith("chelsea-small.jpg · 225×150 · ")
    for thumb, _ in items:
        assert Path(thumb).is_relative_to(lib.thumb_cache.folder)
        with Image.open(thumb) as im:
            assert max(im.size) <= 320
    small = next(m for m in g.members if m.path != g.keep)
    assert member_caption(small, small.path).startswith("KEEP · chelsea-small.jpg")  # the user's choice
    line = evidence_line(g.evidence[0])
    assert "**copy**" in line and "chelsea" in line and "cosine" in line


def test_summary_and_plan_texts():
    from pixseek.types import DuplicateGroup, DuplicateMember
    from pixseek.ui.duplicates import chosen_groups, default_picks, plan_text, summary

    def member(path, size):
        return DuplicateMember(path, 1, size, 10, 10, None, "JPEG", 0, path)

    g = DuplicateGroup("copy", "/p/a.jpg", [member("/p/a.jpg", 2048), member("/p/b.jpg", 1024)], [])
    assert summary([], False).startswith("No duplicates found.")
    assert summary([g], False).startswith("1 group (1 copy), 1 duplicate (1.0 KB)")
    picks = default_picks([g, g])
    picks["1"] = {"keep": "/p/b.jpg", "selected": False}
    assert [x.keep for x in chosen_groups([g, g], picks)] == ["/p/a.jpg"]
    picks["0"] = {"keep": "/p/b.jpg", "selected": True}
    assert chosen_groups([g, g], picks)[0].duplicates == ["/p/a.jpg"]
    assert plan_text([g], "delete", "").startswith("Move 1 file from 1 group to the trash?")
