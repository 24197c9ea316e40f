"""Queries through the Library: combined terms, filters inside the store search, paging, the strong
cut-off and collapsed copies, on real photos (fake and tiny CLIP encoders) and on synthetic vectors."""

from __future__ import annotations

import os
import shutil
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek import Filters, Query
from pixseek.catalog import NewFile
from pixseek.errors import PixseekError, QueryError, UnsupportedQueryError


def unit(x):
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def exif_dated(date: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = date  # DateTimeOriginal
    return exif


def set_mtime(path, when: datetime) -> None:
    ts = when.timestamp()
    os.utime(path, (ts, ts))


@pytest.fixture
def dated_gallery(gallery):
    """The photos, some in a sub-folder, two EXIF-dated, the rest dated by file time, plus a
    portrait photo and two byte-identical copies of coffee.jpg."""
    (gallery / "trip").mkdir()
    for name in ("moon", "rocket", "brick"):
        shutil.move(gallery / f"{name}.jpg", gallery / "trip" / f"{name}.jpg")
    Image.open(gallery / "chelsea.jpg").save(gallery / "chelsea.jpg", exif=exif_dated("2019:06:01 10:00:00"))
    Image.open(gallery / "astronaut.jpg").save(gallery / "astronaut.jpg", exif=exif_dated("2021:12:31 23:30:00"))
    Image.open(gallery / "coffee.jpg").rotate(90, expand=True).save(gallery / "portrait.jpg")  # 400x600
    shutil.copy(gallery / "coffee.jpg", gallery / "coffee-copy.jpg")
    shutil.copy(gallery / "coffee.jpg", gallery / "trip" / "coffee-again.jpg")
    for path in gallery.rglob("*.jpg"):
        set_mtime(path, datetime(2020, 3, 15, 12, 0))
    set_mtime(gallery / "trip" / "moon.jpg", datetime(2021, 7, 4, 20, 0))
    set_mtime(gallery / "camera.jpg", datetime(2022, 1, 1, 0, 0, 1))
    return gallery


@pytest.fixture
def fake_lib(dated_gallery, tmp_path):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([dated_gallery])
        yield lib, dated_gallery


def every(lib, **filters):
    """Names of every photo a filtered image query returns (k larger than the collection)."""
    hits = lib.search(images=[lib.status().roots[0] + "/retina.jpg"], k=100, collapse=False,
                      filters=Filters(**filters))
    return sorted(os.path.basename(h.path) for h in hits)


# -- combined queries ----------------------------------------------------------------------------------------
def test_combined_query_ranks_by_the_weighted_sum(gallery, tmp_path, tiny_clip):
    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        lib.index([gallery])
        example = gallery / "chelsea.jpg"
        # the vector side alone (the default, hybrid, would also match the file names' words)
        hits = lib.search("a cat", images=[example], negatives=["a dog"], weights=[1, 0.5, 0.3], k=11, mode="visual")
        text, neg = lib.encoder.encode_texts(["a cat", "a dog"])
        ids = lib.catalog.ids_with_vectors()
        vecs = lib.catalog.vectors(ids.tolist())
        image = vecs[list(ids).index(lib.catalog.row_by_path(str(example)).id)]
        q = unit(text + 0.5 * image - 0.3 * neg)
        want = sorted(zip(vecs @ q, ids.tolist()), key=lambda t: -t[0])
        assert [h.id for h in hits] == [i for _, i in want]
        np.testing.assert_allclose([h.score for h in hits], [s for s, _ in want], atol=1e-5)
        # a template is the same as typing it out
        templated = lib.search("cat", template="a photo of {}", k=3, mode="visual")
        assert [h.id for h in templated] == [h.id for h in lib.search("a photo of cat", k=3, mode="visual")]


def test_image_query_puts_the_example_first_and_similar_leaves_it_out(fake_lib):
    lib, g = fake_lib
    hits = lib.search(images=[g / "chelsea.jpg"], k=3)
    assert hits[0].path == str(g / "chelsea.jpg") and hits[0].score == pytest.approx(1.0, abs=1e-5)
    similar = lib.similar(g / "chelsea.jpg", k=3)
    assert str(g / "chelsea.jpg") not in [h.path for h in similar]
    assert [h.id for h in similar] == [h.id for h in lib.search(images=[g / "chelsea.jpg"], k=4)[1:]]
    # an example with copies comes first itself, its copies listed with it
    first = lib.search(images=[g / "coffee-copy.jpg"], k=1)[0]
    assert first.path == str(g / "coffee-copy.jpg")
    assert first.copies == (str(g / "coffee.jpg"), str(g / "trip" / "coffee-again.jpg"))


def test_an_outside_photo_and_bytes_are_encoded(fake_lib, tmp_path):
    lib, g = fake_lib
    outside = tmp_path / "outside.jpg"
    Image.open(g / "retina.jpg").resize((300, 300)).save(outside, quality=80)
    by_path = lib.search(images=[outside], k=2)
    by_bytes = lib.search(images=[outside.read_bytes()], k=2)
    assert by_path[0].path == str(g / "retina.jpg") and [h.id for h in by_path] == [h.id for h in by_bytes]
    two = lib.search(images=[g / "retina.jpg", g / "camera.jpg"], k=2)
    assert {h.path for h in two} == {str(g / "retina.jpg"), str(g / "camera.jpg")}


def test_query_vectors_are_cached_between_pages(gallery, tmp_path, tiny_clip):
    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        lib.index([gallery])
        calls = []
        encode = lib.encoder.encode_texts
        lib.encoder.encode_texts = lambda texts: calls.append(list(texts)) or encode(texts)
        for offset in (0, 3, 6):
            lib.search("a cat", k=3, offset=offset)
        assert calls == [["a cat"]]


# -- collapsing copies ---------------------------------------------------------------------------------------
def test_copies_collapse_into_one_result(fake_lib):
    lib, g = fake_lib
    collapsed = lib.search(images=[g / "coffee.jpg"], k=5)
    assert len(collapsed) == 5 and len({h.id for h in collapsed}) == 5
    top = collapsed[0]
    assert top.path == str(g / "coffee.jpg")
    assert top.copies == (str(g / "coffee-copy.jpg"), str(g / "trip" / "coffee-again.jpg"))
    assert all(not h.copies for h in collapsed[1:])
    every_copy = lib.search(images=[g / "coffee.jpg"], k=5, collapse=False)
    assert [h.path for h in every_copy[:3]] == [str(g / "coffee.jpg"), str(g / "coffee-copy.jpg"),
                                                str(g / "trip" / "coffee-again.jpg")]
    assert [h.id for h in every_copy[3:5]] == [h.id for h in collapsed[1:3]]
    # the copies listed are those that pass the filters
    in_trip = lib.search(images=[g / "coffee.jpg"], k=1, filters=Filters(under=g / "trip"))[0]
    assert in_trip.path == str(g / "trip" / "coffee-again.jpg") and in_trip.copies == ()


def test_copy_groups_are_pluggable(fake_lib):
    """The duplicate finder can feed its own groups (here: chelsea and its portrait-free lookalike retina)."""
    lib, g = fake_lib
    a, b = (lib.catalog.row_by_path(str(g / n)).id for n in ("chelsea.jpg", "retina.jpg"))

    class Groups:
        def groups_of(self, ids):
            return {i: (a, b) for i in ids if i in (a, b)}

    lib.copy_groups = Groups()
    hits = lib.search(images=[g / "chelsea.jpg"], k=20)
    assert hits[0].path == str(g / "chelsea.jpg") and hits[0].copies == (str(g / "retina.jpg"),)
    assert str(g / "retina.jpg") not in [h.path for h in hits]


# -- filters -----------------------------------------------------------------------------------------------
def test_filters_select_exactly_the_matching_photos(fake_lib):
    lib, g = fake_lib
    everything = every(lib)
    assert len(everything) == 14
    assert every(lib, under=g / "trip") == ["brick.jpg", "coffee-again.jpg", "moon.jpg", "rocket.jpg"]
    assert every(lib, under=[g / "trip", g / "nowhere"]) == every(lib, under=str(g / "trip") + "/")
    # dates: EXIF capture date first (chelsea 2019, astronaut 2021-12-31), else the file time
    assert every(lib, until="2019") == ["chelsea.jpg"]
    assert every(lib, since="2021") == ["astronaut.jpg", "camera.jpg", "moon.jpg"]
    assert every(lib, since="2021-07-04", until="2021-12") == ["astronaut.jpg", "moon.jpg"]
    assert every(lib, since="2022-01-01 00:00") == ["camera.jpg"]
    assert every(lib, until="2021-12-31 23:29") == sorted(set(everything) - {"astronaut.jpg", "camera.jpg"})
    # shape: skimage photos are square or landscape; portrait.jpg is coffee turned upright
    assert every(lib, orientation="portrait") == ["portrait.jpg"]
    square = ["astronaut.jpg", "brick.jpg", "camera.jpg", "immunohistochemistry.jpg", "moon.jpg", "retina.jpg"]
    assert every(lib, orientation="square") == square
    assert len(every(lib, orientation="landscape")) == 14 - 1 - len(square)
    assert every(lib, min_size="1000x800") == ["hubble_deep_field.jpg", "retina.jpg"]
    assert every(lib, min_size="1000") == ["retina.jpg"]
    assert every(lib, under=g / "trip", orientation="square", since="2021") == ["moon.jpg"]


def test_no_match_says_why(fake_lib):
    lib, g = fake_lib
    results = lib.query(Query(images=[g / "trip" / "moon.jpg"], filters=Filters(under=g / "nowhere", since="2030")))
    assert results.hits == [] and results.matched == 0
    assert results.message == f"no indexed image matches the filters (under {g / 'nowhere'}, since 2030)"
    results = lib.query(Query(images=[g / "portrait.jpg"], filters=Filters(orientation="portrait")),
                        exclude_examples=True)
    assert results.hits == [] and "no other images that match the filters" in results.message


def library_of_vectors(db_dir, paths, vectors, size):
    """A fake-encoder library whose catalogue holds ``vectors`` for ``paths`` (files that need not
    exist) of ``size``; the store is rebuilt from the catalogue when first used."""
    lib = pixseek.open(db_dir, model="fake:pixels")
    with lib.catalog.transaction() as db:
        lib.catalog.set_meta(db, "model", lib.spec.id)
        lib.catalog.set_meta(db, "dim", str(vectors.shape[1]))
        for i, (path, vec) in enumerate(zip(paths, vectors)):
            lib.catalog.insert(db, NewFile(path, 1, 0, f"sha{i}", vec=vec, width=size[0], height=size[1]))
    return lib


@pytest.fixture
def synthetic(tmp_path):
    """A library of 3000 synthetic vectors: 2990 in /a close to the query direction, 10 in /b far from it."""
    rng = np.random.default_rng(0)
    dim = 192
    direction = unit(rng.normal(size=dim))
    a = unit(direction + 0.3 * unit(rng.normal(size=(2990, dim))))
    b = unit(-direction + 0.3 * unit(rng.normal(size=(10, dim))))
    paths = [f"{'/a' if i < 2990 else '/b'}/{i:05d}.jpg" for i in range(3000)]
    lib = library_of_vectors(tmp_path / "db", paths, np.concatenate([a, b]), (640, 480))
    yield lib, direction
    lib.close()


def test_a_selective_filter_still_returns_k(synthetic):
    """A post-filter on the top results would find nothing here: the filter runs inside the search."""
    lib, _ = synthetic
    query = Query(images=["/a/00000.jpg"], k=7, filters=Filters(under="/b"))
    results = lib.query(query)
    assert len(results) == 7 and all(h.path.startswith("/b/") for h in results)
    assert results.matched == 10 and results.more
    rest = lib.query(Query(images=["/a/00000.jpg"], k=7, offset=7, filters=Filters(under="/b")))
    assert len(rest) == 3 and not rest.more
    assert {h.id for h in results} | {h.id for h in rest} == set(range(2991, 3001))


# -- paging --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("collapse", [True, False])
def test_pages_are_slices_of_one_ranking(fake_lib, collapse):
    lib, g = fake_lib
    q = dict(images=[g / "camera.jpg"], collapse=collapse)
    whole = lib.query(Query(k=100, **q))
    pages, offset = [], 0
    while True:
        page = lib.query(Query(k=4, offset=offset, **q))
        pages += page.hits
        if not page.more:
            break
        offset += 4
    assert [h.id for h in pages] == [h.id for h in whole] and len(whole) == (12 if collapse else 14)
    past = lib.query(Query(k=4, offset=40, **q))
    assert past.hits == [] and not past.more
    assert past.message == f"no results past the first {len(whole)}: that is all this query has"


# -- strong cut-off ------------------------------------------------------------------------------------------
@pytest.fixture
def planted(tmp_path):
    """2000 random vectors in /p/noise plus 12 close to a query direction in /p/close, in a library."""
    rng = np.random.default_rng(3)
    dim = 192
    query = unit(rng.normal(size=dim))
    noise = unit(rng.normal(size=(2000, dim)))
    close = unit(query + 1.2 * unit(rng.normal(size=(12, dim))))
    paths = [f"/p/{'close' if i < 12 else 'noise'}/{i:05d}.jpg" for i in range(2012)]
    lib = library_of_vectors(tmp_path / "db", paths, np.concatenate([close, noise]), (10, 10))
    yield lib, query  # the store is rebuilt from the catalogue when first used
    lib.close()


def test_strong_keeps_only_what_stands_out(planted, monkeypatch):
    lib, query = planted
    monkeypatch.setattr(lib.searcher, "vector", lambda terms: (query[None, :], []))
    plain = lib.query(Query(text="anything", k=30))
    assert len(plain) == 30 and plain.strong is None
    strong = lib.query(Query(text="anything", k=30, strong=True))
    assert {h.id for h in strong} == set(range(1, 13)) and strong.strong == 12 and not strong.more
    assert all(h.score >= strong.threshold for h in strong)
    assert [h.id for h in strong] == [h.id for h in plain][:12]
    page = lib.query(Query(text="anything", k=5, offset=5, strong=True))
    assert [h.id for h in page] == [h.id for h in strong][5:10] and page.more and page.strong == 12
    assert lib.query(Query(text="anything", k=30, strong=True, filters=Filters(under="/p/close"))).strong == 12
    none = lib.query(Query(text="anything", k=30, strong=True, filters=Filters(under="/p/noise")))
    assert none.hits == [] and none.strong == 0 and none.matched == 2000
    assert none.message.startswith("no strong matches: nothing stands out for this query")


def test_strong_rarely_keeps_noise(planted, monkeypatch):
    """Directions that nothing in the collection lies close to: on average well under one strong result
    (a normal bulk passes z >= 4 with probability 3e-5, i.e. 0.06 of 2012 images per query)."""
    lib, _ = planted
    rng = np.random.default_rng(9)
    counts = []
    for _ in range(40):
        direction = unit(rng.normal(size=192))
        monkeypatch.setattr(lib.searcher, "vector", lambda terms: (direction[None, :], []))
        counts.append(lib.query(Query(text="anything", k=30, strong=True)).strong)
    assert np.mean(counts) < 0.5, counts


# -- errors ------------------------------------------------------------------------------------------------
def test_clear_errors(fake_lib, tmp_path):
    lib, g = fake_lib
    with pytest.raises(UnsupportedQueryError, match="images only.*--image"):
        lib.search("a cat", mode="visual")  # (the default mode matches the text against the words instead)
    with pytest.raises(UnsupportedQueryError, match="images only"):
        lib.search(images=[g / "camera.jpg"], negatives=["night"])
    with pytest.raises(QueryError, match="cannot read the query image"):
        lib.search(images=[tmp_path / "missing.jpg"])
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(QueryError, match="notes.jpg cannot be used"):
        lib.search(images=[tmp_path / "notes.jpg"])
    with pytest.raises(QueryError, match="empty"):
        lib.search()
    with pytest.raises(TypeError, match="colour"):
        lib.search(images=[g / "camera.jpg"], colour="red")
    with pixseek.open(tmp_path / "empty", model="fake:pixels") as empty:
        with pytest.raises(PixseekError, match="no images yet|empty"):
            empty.search(images=[g / "camera.jpg"])


def test_queries_from_many_threads_agree(gallery, tmp_path, tiny_clip):
    """The UI serves searches from several threads at once: same answers as one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        lib.index([gallery])
        queries = [dict(text=t, k=4, offset=o, strong=s) for t in ("a cat", "a rocket", "coffee")
                   for o in (0, 4) for s in (False, True)] + [dict(images=[gallery / "moon.jpg"], k=3)]
        with ThreadPoolExecutor(6) as pool:
            together = list(pool.map(lambda q: [h.id for h in lib.query(Query(**q))], queries * 3))
        alone = [[h.id for h in lib.query(Query(**q))] for q in queries * 3]
        assert together == alone
