"""Duplicate finding and its actions on real files: tiers, evidence, no chains, keeper, safety, undo."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image, ImageEnhance

import pixseek
from pixseek.dedup import KeepPolicy, choose_keeper
from pixseek.dedup.grouping import complete_linkage
from pixseek.dedup.rules import Edge
from pixseek.errors import PixseekError
from pixseek.dedup.simjoin import ivf_self_join, similar_pairs
from pixseek.stores.faiss import FaissStore
from pixseek.types import DuplicateMember


def md5(path) -> str:
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def dup_gallery(gallery):
    """The photos plus: a byte copy, the same pixels as PNG, a small re-encode, a grey copy, a
    brightened copy, and a copy in a sub-folder."""
    src = gallery / "astronaut.jpg"
    img = Image.open(src)
    shutil.copy2(gallery / "coffee.jpg", gallery / "coffee (1).jpg")
    img.save(gallery / "astronaut.png")
    img.resize((200, 200), Image.LANCZOS).save(gallery / "astronaut-small.jpg", quality=70)
    img.convert("L").save(gallery / "astronaut-grey.jpg", quality=90)
    ImageEnhance.Brightness(Image.open(gallery / "chelsea.jpg")).enhance(1.3).save(gallery / "chelsea-bright.jpg")
    (gallery / "sub").mkdir()
    shutil.copy2(gallery / "rocket.jpg", gallery / "sub" / "rocket.jpg")
    return gallery


@pytest.fixture
def lib(dup_gallery, tmp_path):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as library:
        library.index([dup_gallery])
        yield library


def by_keeper(groups):
    return {os.path.basename(g.keep): g for g in groups}


def test_tiers_evidence_and_keeper(lib, dup_gallery):
    groups = lib.duplicates()
    got = by_keeper(groups)
    assert set(got) == {"astronaut.png", "coffee.jpg", "chelsea.jpg", "rocket.jpg"}
    astro = got["astronaut.png"]  # lossless, full resolution: the original
    assert astro.kind == "copy"
    assert sorted(map(os.path.basename, astro.duplicates)) == ["astronaut-grey.jpg", "astronaut-small.jpg",
                                                              "astronaut.jpg"]
    rules = {(os.path.basename(e.a), os.path.basename(e.b)): e for e in astro.evidence}
    same = rules[("astronaut.png", "astronaut.jpg")] if ("astronaut.png", "astronaut.jpg") in rules \
        else rules[("astronaut.jpg", "astronaut.png")]
    assert (same.tier, same.rule) == ("exact", "same-pixels")
    # complete linkage: every pair of the 4 members carries evidence, with scores
    assert len(astro.evidence) == 6 and all("phash" in e.scores for e in astro.evidence)
    assert got["coffee.jpg"].kind == "exact" and got["coffee.jpg"].evidence[0].rule == "same-bytes"
    assert got["chelsea.jpg"].kind == "copy"  # brightened copy: the keeper is the original's size
    assert got["rocket.jpg"].keep == str(dup_gallery / "rocket.jpg")  # shortest path wins the tie
    d = astro.to_dict()
    assert {"kind", "keep", "duplicates", "evidence"} <= set(d) and json.dumps(d)


def test_unrelated_photos_stay_apart(lib):
    members = {os.path.basename(m.path) for g in lib.duplicates() for m in g.members}
    assert not members & {"camera.jpg", "moon.jpg", "page.jpg", "brick.jpg", "retina.jpg"}


def test_paths_restrict_the_run(lib, dup_gallery):
    groups = lib.duplicates([dup_gallery / "sub"])
    assert groups == []  # the copy's original lies outside the folder asked about
    with pytest.raises(PixseekError, match="not found"):
        lib.duplicates([dup_gallery / "nope"])


def test_no_chains():
    e = {"cosine": 0.95}
    edges = {}
    for a, b in [("A", "B"), ("B", "C")]:
        edges[(a, b)] = edges[(b, a)] = Edge("copy", "crop", e)
    clusters = complete_linkage(["A", "B", "C"], edges, min_rank=2)
    assert sorted(map(len, clusters)) == [1, 2]  # A and C never share a group through B
    edges[("A", "C")] = edges[("C", "A")] = Edge("copy", "hash", e)
    assert sorted(map(len, complete_linkage(["A", "B", "C"], edges, min_rank=2))) == [3]


def member(path, size=100, w=100, h=100, fmt="JPEG", taken=None, mtime=0):
    return DuplicateMember(path, 1, size, w, h, taken, fmt, mtime, "x")


def test_keeper_policies():
    big = member("/p/a/big.jpg", size=50, w=400, h=300, taken="2020-01-01T00:00:00")
    png = member("/p/b/same.png", size=900, w=400, h=300, fmt="PNG", taken="2021-01-01T00:00:00")
    small = member("/p/small.jpg", size=20, w=200, h=150, taken="2019-01-01T00:00:00")
    ms = [small, big, png]
    assert choose_keeper(ms, KeepPolicy.parse(None)) is png  # resolution, then lossless
    assert choose_keeper(ms, KeepPolicy.parse("largest")) is png
    assert choose_keeper(ms, KeepPolicy.parse("oldest")) is small
    assert choose_keeper(ms, KeepPolicy.parse("newest")) is png
    assert choose_keeper(ms, KeepPolicy.parse("path:/p/a")) is big
    with pytest.raises(PixseekError, match="unknown --keep"):
        KeepPolicy.parse("biggest")


def test_move_then_undo_is_bit_identical(lib, dup_gallery, tmp_path):
    before = {p: md5(p) for p in dup_gallery.rglob("*.*")}
    groups = lib.duplicates()
    dups = [d for g in groups for d in g.duplicates]
    report = lib.apply(groups, "move", move_to=tmp_path / "quarantine")
    assert report.done == len(dups) == 6 and not report.skipped
    assert os.path.isabs(report.manifest) and os.path.exists(report.manifest)
    for d in dups:
        assert not os.path.exists(d)
        moved = tmp_path / "quarantine" / "gallery" / os.path.relpath(d, dup_gallery)
        assert md5(moved) == before[type(dup_gallery)(d)]  # relative paths kept
        assert lib.catalog.row_by_path(d) is None  # the index follows
    assert lib.duplicates() == []
    assert sorted(lib.store.ids()) == sorted(lib.catalog.ids_with_vectors())

    undo = lib.undo(report.manifest)
    assert undo.done == 6 and not undo.skipped
    assert {p: md5(p) for p in dup_gallery.rglob("*.*")} == before
    assert len(lib.duplicates()) == len(groups)
    assert sorted(lib.store.ids()) == sorted(lib.catalog.ids_with_vectors())
    again = lib.index([dup_gallery])
    assert (again.added, again.removed, again.updated) == (0, 0, 0)  # rows match the files
    assert lib.undo(report.manifest).done == 0  # a second undo finds everything in place


def test_changed_files_and_keepers_are_not_touched(lib, dup_gallery, tmp_path):
    groups = lib.duplicates()
    with open(dup_gallery / "astronaut-small.jpg", "ab") as fh:
        fh.write(b"edited after indexing")
    (dup_gallery / "coffee.jpg").unlink()  # a keeper that went away
    report = lib.apply(groups, "move", move_to=tmp_path / "q")
    reasons = {os.path.basename(p): r for p, r in report.skipped}
    assert "changed since indexing" in reasons["astronaut-small.jpg"]
    assert "keeper" in reasons["coffee (1).jpg"]
    assert (dup_gallery / "astronaut-small.jpg").exists() and (dup_gallery / "coffee (1).jpg").exists()


def test_protect_and_quarantine_inside_the_library(lib, dup_gallery, tmp_path):
    groups = lib.duplicates(protect=[dup_gallery / "sub"])
    rocket = by_keeper(groups)["rocket.jpg"]
    assert [m.protected for m in rocket.members if m.path != rocket.keep] == [True]
    report = lib.apply([rocket], "move", move_to=tmp_path / "q")
    assert report.done == 0 and report.skipped[0][1] == "protected"
    with pytest.raises(PixseekError, match="inside the indexed folder"):
        lib.apply(groups, "move", move_to=dup_gallery / "dups")


def test_hardlink_only_identical_bytes_and_undo(lib, dup_gallery):
    groups = lib.duplicates()
    coffee_copy = dup_gallery / "coffee (1).jpg"
    stat_before = os.stat(coffee_copy)
    report = lib.apply(groups, "hardlink")
    assert report.done == 2  # coffee and rocket copies; the rest differ in bytes
    assert os.path.samefile(coffee_copy, dup_gallery / "coffee.jpg")
    reasons = [r for _, r in report.skipped]
    assert len(reasons) == 4 and all("not byte-identical" in r for r in reasons)
    assert lib.index([dup_gallery]).updated == 0
    assert lib.undo(report.manifest).done == 2
    assert not os.path.samefile(coffee_copy, dup_gallery / "coffee.jpg")
    st = os.stat(coffee_copy)
    assert md5(coffee_copy) == md5(dup_gallery / "coffee.jpg")
    assert (st.st_mtime_ns, st.st_mode) == (stat_before.st_mtime_ns, stat_before.st_mode)
    # members that already are the keeper's file are never acted on
    os.unlink(coffee_copy)
    os.link(dup_gallery / "coffee.jpg", coffee_copy)
    lib.index([dup_gallery])
    coffee = by_keeper(lib.duplicates())["coffee.jpg"]
    assert [m.link for m in coffee.members if m.path != coffee.keep] == ["hardlink"]
    assert lib.apply([coffee], "delete").done == 0


def test_symlinked_copy_is_never_deleted(gallery, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    os.symlink(gallery / "moon.jpg", gallery / "moon-link.jpg")
    shutil.copy2(gallery / "moon.jpg", gallery / "moon-copy.jpg")
    os.symlink(gallery / "moon-copy.jpg", gallery / "z-link-to-copy.jpg")
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        (group,) = lib.duplicates()
        assert group.keep == str(gallery / "moon.jpg")  # a real file, never a link
        links = {os.path.basename(m.path): m.link for m in group.members if m.path != group.keep}
        assert links == {"moon-link.jpg": "symlink", "z-link-to-copy.jpg": "symlink",
                         "moon-copy.jpg": "symlink-target"}
        report = lib.apply([group], "delete", )
        assert report.done == 0 and len(report.skipped) == 3
        assert all(os.path.exists(gallery / n) for n in links)


def test_delete_goes_to_the_trash_and_comes_back(lib, dup_gallery, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    groups = lib.duplicates()
    before = md5(dup_gallery / "astronaut-grey.jpg")
    report = lib.apply(groups, "delete")
    assert report.done == 6
    trash = tmp_path / "xdg" / "Trash"
    assert md5(trash / "files" / "astronaut-grey.jpg") == before
    info = (trash / "info" / "astronaut-grey.jpg.trashinfo").read_text()
    assert info.startswith("[Trash Info]\nPath=") and "astronaut-grey.jpg" in info
    assert lib.undo(report.manifest).done == 6
    assert md5(dup_gallery / "astronaut-grey.jpg") == before
    assert not (trash / "info" / "astronaut-grey.jpg.trashinfo").exists()


def test_not_duplicate_is_remembered(lib, dup_gallery, tmp_path):
    lib.not_duplicate(dup_gallery / "chelsea.jpg", dup_gallery / "chelsea-bright.jpg")
    assert "chelsea.jpg" not in by_keeper(lib.duplicates())
    with pixseek.open(tmp_path / "db") as again:  # kept in the catalogue
        assert "chelsea.jpg" not in by_keeper(again.duplicates())
    with pytest.raises(PixseekError, match="same bytes"):
        lib.not_duplicate(dup_gallery / "coffee.jpg", dup_gallery / "coffee (1).jpg")
    with pytest.raises(PixseekError, match="not indexed"):
        lib.not_duplicate(dup_gallery / "coffee.jpg", tmp_path / "elsewhere.jpg")


def test_hashes_missing_from_an_old_index_are_computed(lib, dup_gallery):
    with lib.catalog.transaction() as db:
        db.execute("DELETE FROM image_hashes")
    assert "astronaut.png" in by_keeper(lib.duplicates())
    assert lib.catalog.db.execute("SELECT COUNT(*) FROM image_hashes").fetchone()[0] > 10


def test_undo_refuses_a_bad_manifest(lib, tmp_path):
    (tmp_path / "m.jsonl").write_text("{}\n")
    with pytest.raises(PixseekError, match="not a pixseek manifest"):
        lib.undo(tmp_path / "m.jsonl")
    with pytest.raises(PixseekError, match="no manifest"):
        lib.undo(tmp_path / "missing.jsonl")


# -- candidate pairs -----------------------------------------------------------------------------------
def clustered(n=3000, dim=64, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 3, dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.25 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(x, ids, thr):
    s = x @ x.T
    a, b = np.nonzero(np.triu(s >= thr, 1))
    return set(zip(ids[a].tolist(), ids[b].tolist()))


def test_range_search_pairs_are_exact(tmp_path):
    x = clustered()
    ids = np.arange(10, 10 + len(x), dtype=np.int64)
    store = FaissStore(tmp_path, x.shape[1])
    store.add(ids, x)
    lookup = dict(zip(ids.tolist(), x))
    pairs = similar_pairs(ids, lambda chunk: np.stack([lookup[i] for i in chunk]), 0.9, store=store)
    assert set(zip(pairs.a.tolist(), pairs.b.tolist())) == brute(x, ids, 0.9)
    assert np.all(pairs.a < pairs.b)


def test_ivf_self_join_finds_near_duplicates():
    x = clustered(6000)
    ids = np.arange(len(x), dtype=np.int64) * 2
    exact = brute(x, ids, 0.9)
    got = ivf_self_join(ids, x, 0.9, cell_size=64)
    found = set(zip(got.a.tolist(), got.b.tolist()))
    assert len(found & exact) / len(exact) >= 0.99 and found <= exact


def test_copy_groups_are_one_hop_stars():
    """An original O with two edits E1, E2 (each a copy of O, not of each other) is one group;
    X, a look-alike matched only by E2, is not pulled in through E2."""
    from pixseek.dedup.grouping import cluster

    e = Edge("copy", "hash", {"cosine": 0.95})
    edges = {}
    for a, b in [("O", "E1"), ("O", "E2"), ("E2", "X")]:
        edges[(a, b)] = edges[(b, a)] = e
    groups = sorted(sorted(g) for g in cluster(["O", "E1", "E2", "X"], edges, similar=False))
    assert groups == [["E1", "E2", "O"], ["X"]]
    # a grey picture matches every colour variant of a design: it never gathers them
    for a, b in [("grey", "warm"), ("grey", "cold")]:
        edges[(a, b)] = edges[(b, a)] = e
    groups = cluster(["O", "E1", "E2", "X", "grey", "warm", "cold"], edges, similar=False, grey={"grey"})
    assert not any({"warm", "cold"} <= set(g) for g in groups)


def test_schema_1_catalogue_migrates_and_indexing_stores_hashes(tmp_path, gallery):
    import sqlite3

    from pixseek.catalog import SCHEMA_VERSION, Catalog, _migrate_0_to_1

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    _migrate_0_to_1(db)
    db.execute("INSERT INTO files (path, size, mtime_ns, sha, status, indexed_at) VALUES ('/a.jpg', 1, 1, 'x', 'ok', 0)")
    db.execute("PRAGMA user_version = 1")
    db.close()
    cat = Catalog(path)
    assert cat.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert cat.row_by_path("/a.jpg").sha == "x" and cat.not_duplicates() == set()
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        shas = {r.sha for r in lib.catalog.ok_rows()}
        assert set(lib.catalog.hashes_for(shas)) == shas  # hashed while indexing, no second decode


def test_move_across_file_systems_copies_verifies_and_undoes(lib, dup_gallery, tmp_path, monkeypatch):
    import errno

    import pixseek.dedup.files as files

    real_link = os.link

    def link(src, dest):  # a hard link between the two folders fails as across file systems
        if os.path.dirname(os.fspath(src)) != os.path.dirname(os.fspath(dest)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_link(src, dest)

    monkeypatch.setattr(files.os, "link", link)
    before = {p: (md5(p), os.stat(p).st_mtime_ns) for p in dup_gallery.rglob("*.*")}
    report = lib.apply(lib.duplicates(), "move", move_to=tmp_path / "q")
    assert report.done == 6 and not report.skipped
    assert not list((tmp_path / "q").rglob("*.tmp"))
    assert lib.undo(report.manifest).done == 6
    assert {p: (md5(p), os.stat(p).st_mtime_ns) for p in dup_gallery.rglob("*.*")} == before


# -- blank pictures and colour variants: look alike to the hashes, are not copies ---------------------
def _alpha_only(path, pattern: str) -> None:
    """A white RGBA picture whose design lives only in its transparency (as some MATE wallpapers)."""
    y, x = np.mgrid[0:240, 0:320]
    alpha = {"stripes": (x // 20) % 2 * 255, "rings": ((np.hypot(x - 160, y - 120) // 15) % 2) * 255,
             "ramp": x * 255 // 319}[pattern]
    rgba = np.dstack([np.full((240, 320, 3), 255), alpha]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(path)


def test_blank_pictures_are_copies_of_nothing(gallery, tmp_path):
    """Pictures that flatten to one blank white (designs drawn only in transparency, a white JPEG)
    share every hash and the embedding, yet are different files: no group. Two files with the same
    pixels and transparency are one picture: exact."""
    for name in ("stripes", "rings", "ramp"):
        _alpha_only(gallery / f"{name}.png", name)
    Image.new("RGB", (320, 240), "white").save(gallery / "white.jpg", quality=95)
    Image.open(gallery / "rings.png").save(gallery / "rings-again.png", compress_level=1)  # other bytes
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        groups = [g for g in lib.duplicates() if any(m.path.endswith(".png") for m in g.members)]
        assert [sorted(map(os.path.basename, (m.path for m in g.members))) for g in groups] == [
            ["rings-again.png", "rings.png"]]
        assert groups[0].kind == "exact" and groups[0].evidence[0].rule == "same-pixels"
        # with --similar they may be called similar (they look alike), never copies
        similar = [g for g in lib.duplicates(similar=True) if any("stripes" in m.path for m in g.members)]
        assert all(g.kind == "similar" for g in similar)


def test_pixel_hashes_of_older_versions_are_made_again(gallery, tmp_path):
    """pixseek before p2 flattened transparency into its stored pixel hashes: those are not trusted."""
    from pixseek.hashing import PIXEL_HASH_VERSION, pixel_hash

    _alpha_only(gallery / "stripes.png", "stripes")
    _alpha_only(gallery / "rings.png", "rings")
    assert pixel_hash(gallery / "stripes.png").startswith(PIXEL_HASH_VERSION)
    assert pixel_hash(gallery / "stripes.png") != pixel_hash(gallery / "rings.png")
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        rows = [lib.catalog.row_by_path(str(gallery / n)) for n in ("stripes.png", "rings.png")]
        with lib.catalog.transaction() as db:
            for row in rows:  # what the old version stored: the hash of the flattened white
                lib.catalog.set_pixel_hash(db, row.sha, "0" * 32)
        assert not [g for g in lib.duplicates() if any("stripes" in m.path for m in g.members)]
        assert lib.catalog.pixel_hashes([rows[0].sha])[rows[0].sha].startswith(PIXEL_HASH_VERSION)


def test_a_colour_variant_is_not_passed_off_as_a_crop(gallery, tmp_path):
    """A recoloured variant of a design (hue moved, a detail changed: as Ubuntu MATE's Cold and
    Radioactive wallpapers) lines up with the original as a whole, so the crop rule's looser colour
    test must not rescue it. The same recolouring of the very same picture is an edited copy, and a
    real light crop still is a copy."""
    from PIL import ImageDraw

    coffee = Image.open(gallery / "coffee.jpg")
    w, h = coffee.size
    hsv = np.asarray(coffee.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + 9) % 256  # ~13 degrees: colour distance ~0.1
    recoloured = Image.fromarray(hsv, "HSV").convert("RGB")
    variant = recoloured.copy()
    ImageDraw.Draw(variant).ellipse((w // 2 - w // 10, h // 2 - h // 10, w // 2 + w // 10, h // 2 + h // 10),
                                    fill=(40, 40, 40))  # pHash moves 8 bits
    variant.save(gallery / "coffee-variant.jpg", quality=92)
    astronaut = Image.open(gallery / "astronaut.jpg")
    hsv = np.asarray(astronaut.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + 9) % 256
    Image.fromarray(hsv, "HSV").convert("RGB").save(gallery / "astronaut-recoloured.jpg", quality=92)
    chelsea = Image.open(gallery / "chelsea.jpg")
    w, h = chelsea.size
    chelsea.crop((w // 12, h // 12, w - w // 12, h - h // 12)).save(gallery / "chelsea-crop.jpg", quality=92)
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        groups = {os.path.basename(g.keep): sorted(map(os.path.basename, g.duplicates)) for g in lib.duplicates()}
    assert "coffee.jpg" not in groups and "coffee-variant.jpg" not in groups
    assert groups.get("astronaut.jpg") == ["astronaut-recoloured.jpg"]
    assert groups.get("chelsea.jpg") == ["chelsea-crop.jpg"]
