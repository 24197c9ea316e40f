"""Photographers' folders on real files: DNG RAW files (embedded preview and development), broken
RAWs skipped with a reason, RAW+JPEG pairs shown once and moved together (and undone), bursts grouped
with the sharpest frame kept, HEIC and AVIF from phones."""

from __future__ import annotations

import hashlib
import os
import random
import shutil

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek.evaluation.camera import burst_frames, burst_times, write_dng, write_jpeg
from pixseek.imaging import decode_image, image_extensions
from pixseek.indexing.signals import sharpness

from conftest import photo_array

pytest.importorskip("rawpy")
pytest.importorskip("pidng")


def md5(path) -> str:
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def raws(tmp_path_factory):
    """DNGs of real photos: with a full-size preview, without one, and one rotated (Orientation 6)."""
    folder = tmp_path_factory.mktemp("raws")
    astro = photo_array("astronaut")
    write_dng(astro, folder / "preview.dng", when="2024:05:01 10:00:00", subsec="25", preview=True)
    write_dng(astro, folder / "bare.dng", when="2024:05:01 10:00:00", subsec="25")
    coffee = photo_array("coffee")[:, :600]  # landscape 400 x 600
    write_dng(coffee, folder / "rot-preview.dng", orientation=6, preview=True)
    write_dng(coffee, folder / "rot-bare.dng", orientation=6)
    return folder


def test_raw_extensions_are_crawled():
    assert {".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2", ".heic", ".avif"} <= image_extensions()


def test_dng_preview_and_development(raws):
    pre = decode_image(raws / "preview.dng", min_side=112)
    dev = decode_image(raws / "bare.dng", min_side=112)
    assert (pre.raw, dev.raw) == ("preview", "developed")
    for d in (pre, dev):
        assert (d.width, d.height, d.format) == (512, 512, "RAW")
        assert d.taken_at == "2024-05-01T10:00:00" and d.subsec == 0.25
        assert d.camera == "Pixseek TestCam" and d.lens == "Test 50mm"
    # the development of the Bayer data looks like the photo (and like the preview)
    ref = np.asarray(Image.fromarray(photo_array("astronaut")).resize(dev.image.size), np.float32)
    assert np.abs(np.asarray(dev.image, np.float32) - ref).mean() < 25
    # bytes alone (the pipeline reads each file once): the DNG is known by its DNGVersion tag
    assert decode_image((raws / "preview.dng").read_bytes(), min_side=112).raw == "preview"


def test_orientation_from_the_raw(raws):
    for name in ("rot-preview.dng", "rot-bare.dng"):
        d = decode_image(raws / name, min_side=100)
        assert (d.width, d.height) == (400, 600), name  # upright: portrait
        assert d.image.height > d.image.width, name
    a = np.asarray(decode_image(raws / "rot-preview.dng", min_side=100).image.resize((100, 150)), np.float32)
    b = np.asarray(decode_image(raws / "rot-bare.dng", min_side=100).image.resize((100, 150)), np.float32)
    assert np.abs(a - b).mean() < 30  # turned the same way


def test_preview_vector_matches_development(raws, tiny_clip, tmp_path):
    """The fast path (embedded preview) and the development give nearly the same vector."""
    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        lib.index([raws])
        rows = {os.path.basename(r.path): r for r in lib.catalog.ok_rows()}
        assert set(rows) == {"preview.dng", "bare.dng", "rot-preview.dng", "rot-bare.dng"}
        v = lib.catalog.vectors([rows["preview.dng"].id, rows["bare.dng"].id,
                                 rows["rot-preview.dng"].id, rows["rot-bare.dng"].id])
        with Image.open(lib.thumbnail(raws / "rot-bare.dng", size=120)) as thumb:  # shown like any photo
            assert thumb.format == "JPEG" and thumb.size == (80, 120)
        assert {r.format for r in rows.values()} == {"RAW"}
    assert float(v[0] @ v[1]) > 0.95
    assert float(v[2] @ v[3]) > 0.95
    assert float(v[0] @ v[2]) < float(v[0] @ v[1])


def test_broken_raw_skipped_with_reason(raws, tmp_path, photo_dir):
    folder = tmp_path / "card"
    folder.mkdir()
    shutil.copy(photo_dir / "chelsea.jpg", folder)
    (folder / "IMG_0001.CR2").write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + os.urandom(3000))
    data = (raws / "bare.dng").read_bytes()
    (folder / "cut.dng").write_bytes(data[:len(data) // 3])
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        report = lib.index([folder])
        skipped = {os.path.basename(s.path): s.reason for s in lib.status().skipped}
    assert report.added == 1
    assert set(skipped) == {"IMG_0001.CR2", "cut.dng"}
    assert all(r.endswith("RAW") or "RAW" in r for r in skipped.values()), skipped


# -- RAW+JPEG pairs and bursts ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def card(tmp_path_factory):
    """A camera card: RAW+JPEG pairs (same stem; and one in two folders, same time and camera), a
    burst of 4 frames 0.2 s apart (frame 2 the sharp one) as JPEGs, a lone JPEG copy of a pair."""
    root = tmp_path_factory.mktemp("card")
    (root / "DCIM").mkdir()
    (root / "RAW").mkdir()
    rocket, chelsea = photo_array("rocket"), photo_array("chelsea")
    write_dng(rocket, root / "DCIM" / "IMG_0001.DNG", when="2024:06:01 09:00:00", subsec="00", preview=True)
    write_jpeg(rocket, root / "DCIM" / "IMG_0001.JPG", when="2024:06:01 09:00:00", subsec="00")
    write_dng(chelsea, root / "RAW" / "DSC_0100.DNG", when="2024:06:01 09:05:00", subsec="50", preview=True)
    write_jpeg(chelsea, root / "DCIM" / "DSC_0100_edit.JPG", when="2024:06:01 09:05:00", subsec="50")
    shutil.copy(root / "DCIM" / "IMG_0001.JPG", root / "rocket-copy.jpg")
    frames = burst_frames(Image.fromarray(photo_array("astronaut")), 4, random.Random(3), sharp=2)
    for k, (frame, (when, sub)) in enumerate(zip(frames, burst_times("2024:06:01 09:10:00", 4))):
        write_jpeg(frame, root / "DCIM" / f"BURST_{k}.JPG", when=when, subsec=sub)
    write_jpeg(photo_array("coffee"), root / "DCIM" / "later.JPG", when="2024:06:01 09:10:30", subsec="00")
    return root


@pytest.fixture
def card_lib(card, tmp_path):
    folder = tmp_path / "card"
    shutil.copytree(card, folder)
    with pixseek.open(tmp_path / "db", model="fake:pixels") as library:
        library.index([folder])
        yield library, folder


def test_search_shows_a_pair_once_and_collapses_a_burst(card_lib):
    lib, folder = card_lib
    hits = lib.similar(str(folder / "DCIM" / "later.JPG"), k=20)
    names = [os.path.basename(h.path) for h in hits]
    assert len(names) == 3  # rocket (pair + copy), chelsea pair, the burst (coffee is the query)
    rocket = next(h for h in hits if os.path.basename(h.path) in ("IMG_0001.JPG", "IMG_0001.DNG", "rocket-copy.jpg"))
    assert "RAW+JPEG" in rocket.label
    assert {os.path.basename(p) for p in rocket.copies} | {os.path.basename(rocket.path)} == {
        "IMG_0001.JPG", "IMG_0001.DNG", "rocket-copy.jpg"}
    chelsea = next(h for h in hits if "DSC_0100" in h.path)  # paired by time and camera across folders
    assert chelsea.label == "RAW+JPEG" and len(chelsea.copies) == 1
    burst = next(h for h in hits if "BURST_" in h.path)
    assert burst.label == "burst of 4" and len(burst.copies) == 3
    assert not any("BURST" in n for n in names if n != os.path.basename(burst.path))
    every = lib.similar(str(folder / "DCIM" / "later.JPG"), k=20, collapse=False)
    assert len(every) == 9


def test_dedup_never_splits_a_pair_and_both_halves_move_and_come_back(card_lib, tmp_path):
    lib, folder = card_lib
    groups = lib.duplicates()
    assert not any({os.path.basename(m.path) for m in g.members} == {"DSC_0100.DNG", "DSC_0100_edit.JPG"}
                   for g in groups)  # a pair is no duplicate of itself
    rocket = next(g for g in groups if any("IMG_0001" in m.path for m in g.members))
    names = {os.path.basename(m.path) for m in rocket.members}
    assert names == {"IMG_0001.JPG", "IMG_0001.DNG", "rocket-copy.jpg"}
    assert os.path.basename(rocket.keep).startswith("IMG_0001")  # the pair is kept, the lone copy goes
    assert [os.path.basename(p) for p in rocket.duplicates] == ["rocket-copy.jpg"]
    # the user keeps the lone copy instead: both halves of the pair follow, together
    flipped = rocket.with_keeper(str(folder / "rocket-copy.jpg"))
    assert sorted(os.path.basename(p) for p in flipped.duplicates) == ["IMG_0001.DNG", "IMG_0001.JPG"]
    before = {p: md5(p) for p in flipped.duplicates}
    report = lib.apply([flipped], "move", move_to=tmp_path / "quarantine")
    assert report.done == 2 and not report.skipped
    assert not any(os.path.exists(p) for p in before)
    lib.undo(report.manifest)
    assert {p: md5(p) for p in before} == before


def test_a_pair_half_that_cannot_move_keeps_the_other(card_lib, tmp_path):
    lib, folder = card_lib
    rocket = next(g for g in lib.duplicates() if any("IMG_0001" in m.path for m in g.members))
    flipped = rocket.with_keeper(str(folder / "rocket-copy.jpg"))
    raw = folder / "DCIM" / "IMG_0001.DNG"
    os.utime(raw, ns=(1, 1))  # changed since indexing: re-checked, skipped
    report = lib.apply([flipped], "move", move_to=tmp_path / "quarantine")
    assert report.done == 0 and len(report.skipped) == 2
    assert (folder / "DCIM" / "IMG_0001.JPG").exists() and raw.exists()


def test_burst_is_one_similar_group_with_the_sharpest_kept(card_lib):
    lib, folder = card_lib
    groups = lib.duplicates(similar=True)
    burst = next(g for g in groups if any("BURST_" in m.path for m in g.members))
    assert {os.path.basename(m.path) for m in burst.members} == {f"BURST_{k}.JPG" for k in range(4)}
    assert os.path.basename(burst.keep) == "BURST_2.JPG"
    assert any(e.rule == "burst" for e in burst.evidence)
    assert not any("later.JPG" in m.path for g in groups for m in g.members)  # 20 s later: not the burst


def test_sharpness_ranks_blur():
    img = Image.fromarray(photo_array("astronaut"))
    frames = burst_frames(img, 3, random.Random(0), sharp=1)
    values = [sharpness(f) for f in frames]
    assert values.index(max(values)) == 1


# -- phones: HEIC and AVIF ----------------------------------------------------------------------------
def test_heic_and_avif_index_like_any_photo(tmp_path, tiny_clip):
    pytest.importorskip("pillow_heif")
    folder = tmp_path / "phone"
    folder.mkdir()
    img = Image.fromarray(photo_array("chelsea"))
    img.save(folder / "IMG_1.HEIC", "HEIF", quality=90)
    img.save(folder / "IMG_2.avif", "AVIF", quality=90)
    img.save(folder / "IMG_3.jpg", quality=90)
    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        report = lib.index([folder])
        assert report.added == 3 and not lib.status().skipped
        rows = sorted(lib.catalog.ok_rows(), key=lambda r: r.path)
        assert [r.format for r in rows] == ["HEIF", "AVIF", "JPEG"]
        v = lib.catalog.vectors([r.id for r in rows])
    assert float(v[0] @ v[2]) > 0.98 and float(v[1] @ v[2]) > 0.98


def test_camera_card_scores(tmp_path):
    """The eval's camera card (``pixseek eval dedup``): pairs never split, bursts grouped whole."""
    from pixseek.evaluation.camera import Card, build_card, card_lines, score_card

    photos = [photo_array(n)[:256, :256] for n in ("astronaut", "chelsea", "coffee", "rocket")]
    card = build_card(tmp_path / "card", photos, seed=1, frames=3)
    card.save(tmp_path / "truth.json")
    assert Card.load(tmp_path / "truth.json") == card
    assert (len(card.pairs), len(card.bursts)) == (5, 2)  # 2 pairs + a burst of 3 RAW+JPEG pairs
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([tmp_path / "card"])
        res = score_card(card, lib.duplicates(), lib.duplicates(similar=True))
    assert res["pairs_split_default"] == res["pairs_split_similar"] == 0
    assert res["pairs_alone_default"] == res["pairs_alone_similar"] == 0
    assert res["bursts_grouped"] == res["bursts_sharpest_kept"] == 2
    assert "bursts grouped whole by --similar: 2/2" in "\n".join(card_lines(res))
