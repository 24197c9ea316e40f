"""What the library gives clients that show photos: thumbnails, the servable-path rule, image info,
combined queries, and indexing in the background while searches go on."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek.errors import PixseekError, UnsupportedQueryError
from pixseek.jobs import IndexJob
from pixseek.search import Query
from pixseek.thumbs import GALLERY_SIZE, PREVIEW_SIZE


@pytest.fixture
def lib(gallery, tmp_path):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        yield lib


def jpeg_with_orientation(path, size, orientation, date=None):
    """A photo whose left half is red, stored sideways with an EXIF orientation tag (as cameras do)."""
    img = Image.new("RGB", size, "blue")
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    if date:
        exif.get_ifd(0x8769)[0x9003] = date  # DateTimeOriginal
    img.save(path, quality=90, exif=exif)


def test_thumbnails_are_upright_small_and_made_once(gallery, tmp_path):
    jpeg_with_orientation(gallery / "sideways.jpg", (600, 400), orientation=6, date="2021:07:04 12:34:56")
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        thumb = lib.thumbnail(gallery / "sideways.jpg")
        assert thumb.is_relative_to(tmp_path / "db" / "thumbs")  # next to the index
        with Image.open(thumb) as im:
            assert im.size == (GALLERY_SIZE * 2 // 3, GALLERY_SIZE)  # orientation 6: portrait
            px = np.asarray(im.convert("RGB"))
        assert px[5, GALLERY_SIZE // 3, 0] > 200 and px[-5, GALLERY_SIZE // 3, 2] > 200  # red on top now
        stamp = thumb.stat().st_mtime_ns
        assert lib.thumbnail(gallery / "sideways.jpg") == thumb and thumb.stat().st_mtime_ns == stamp
        # A renamed copy shares the thumbnail (named by content); an edited photo gets a new one.
        os.rename(gallery / "sideways.jpg", gallery / "renamed.jpg")
        lib.index([gallery])
        assert lib.thumbnail(gallery / "renamed.jpg") == thumb
        Image.new("RGB", (50, 80), "green").save(gallery / "renamed.jpg")
        lib.index([gallery])
        assert lib.thumbnail(gallery / "renamed.jpg") != thumb
        info = lib.image_info(gallery / "chelsea.jpg")
        assert (info.name, info.width, info.height) == ("chelsea.jpg", 451, 300)
        assert info.bytes == (gallery / "chelsea.jpg").stat().st_size and info.taken_at is None


def test_capture_date_and_orientation_in_image_info(gallery, tmp_path):
    jpeg_with_orientation(gallery / "dated.jpg", (600, 400), orientation=6, date="2021:07:04 12:34:56")
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        info = lib.image_info(gallery / "dated.jpg")
        assert (info.width, info.height, info.taken_at) == (400, 600, "2021-07-04T12:34:56")


def test_a_20_megapixel_photo_never_travels_full_size(gallery, tmp_path):
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (36, 54, 3), dtype=np.uint8))
    big.resize((5472, 3648), Image.BILINEAR).save(gallery / "big.jpg", quality=90)  # 20 MP
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        for size in (GALLERY_SIZE, PREVIEW_SIZE):
            with Image.open(lib.thumbnail(gallery / "big.jpg", size)) as im:
                assert max(im.size) == size
        assert lib.thumbnail(gallery / "big.jpg").stat().st_size < 60_000


def test_only_indexed_photos_inside_indexed_folders_are_servable(lib, gallery, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (64, 64), "red").save(outside / "secret.jpg")
    (gallery / "link-out.jpg").symlink_to(outside / "secret.jpg")
    (gallery / "notes.txt").write_text("not a photo")
    lib.index([gallery])
    assert lib.catalog.row_by_path(str(gallery / "link-out.jpg")) is not None  # indexed, yet...
    assert lib.is_servable(gallery / "chelsea.jpg")
    refused = ["/etc/passwd", gallery / ".." / "outside" / "secret.jpg", outside / "secret.jpg",
               gallery / "link-out.jpg", gallery / "notes.txt", gallery / "missing.jpg", gallery,
               f"{gallery}/../gallery/../../etc/passwd", "chelsea.jpg", "", "\0"]
    for path in refused:
        assert not lib.is_servable(path), path
        with pytest.raises(PixseekError, match="not an indexed photo"):
            lib.thumbnail(path)
        with pytest.raises(PixseekError):
            lib.image_info(path)
    assert lib.is_servable(f"{gallery}/../{gallery.name}/chelsea.jpg")  # `..` that stays inside is fine


def test_a_mistyped_folder_is_not_recorded(tmp_path):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        with pytest.raises(PixseekError, match="not found"):
            lib.index([tmp_path / "no-such-folder"])
        assert lib.status().roots == []


def test_combined_query_adds_the_two_unit_vectors(gallery, tmp_path, tiny_clip):
    with pixseek.open(tmp_path / "db", model=tiny_clip) as lib:
        lib.index([gallery])
        enc = lib.encoder
        both = lib.encode_query("a cat", gallery / "chelsea.jpg")
        t = enc.encode_texts(["a cat"])[0]
        i = lib.catalog.vectors([lib.catalog.row_by_path(str(gallery / "chelsea.jpg")).id])[0]
        expected = (t + i) / np.linalg.norm(t + i)
        assert np.allclose(both.vector, expected, atol=1e-5)
        assert both.text == "a cat" and both.image == str(gallery / "chelsea.jpg") and len(both.exclude) == 1
        hits = lib.query(Query(images=[both.vector], k=20), exclude_ids=both.exclude)
        assert len(hits) == 10 and str(gallery / "chelsea.jpg") not in [h.path for h in hits]
        by_query = lib.query(Query(text="a cat", k=3), exclude_examples=True).hits
        assert [h.path for h in by_query] == [h.path for h in lib.search("a cat", k=3)]
        # Bytes of a photo that is not indexed; and an encoded image part reused without the photo.
        data = (gallery / "coffee.jpg").read_bytes()
        part = lib.encode_query(image=data, image_name="upload.jpg")
        again = lib.encode_query("a cup", part)
        assert again.image == "upload.jpg"
        assert np.allclose(again.vector, lib.encode_query("a cup", data).vector, atol=1e-5)
        with pytest.raises(PixseekError, match="empty"):
            lib.encode_query("  ", None)


def test_text_on_an_image_only_index_says_what_to_do(lib, gallery):
    with pytest.raises(UnsupportedQueryError, match="images only") as caught:
        lib.encode_query("a cat", gallery / "chelsea.jpg")
    assert caught.value.remedy == "search_by_example"  # each client says how, in its own words
    assert lib.similar(gallery / "chelsea.jpg", k=3)


class SlowPixels:
    """Wraps the fake encoder's batches with a pause, so an index run takes a while."""

    def __init__(self, lib, pause):
        enc = lib.encoder
        original = enc.encode_pixels

        def slow(batch):
            time.sleep(pause)
            return original(batch)

        enc.encode_pixels = slow


def test_index_job_reports_progress_while_searches_keep_working(gallery, photo_dir, tmp_path):
    more = tmp_path / "more"
    more.mkdir()
    for i in range(40):
        Image.new("RGB", (40, 30), (i * 6, 100, 255 - i * 6)).save(more / f"c{i:02}.png")
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        lib.index([gallery])
        SlowPixels(lib, pause=0.15)
        job = IndexJob(lib, batch_size=4)
        seen, searched = [], []
        job.start([more])
        while job.progress().running:
            seen.append(job.progress())
            t = time.perf_counter()
            assert lib.similar(gallery / "coffee.jpg", k=3)  # answered while indexing
            searched.append(time.perf_counter() - t)
            time.sleep(0.05)
        final = job.wait()
        assert final.state == "done" and final.report.added == 40 and final.fraction == 1
        assert any(p.total == 40 and 0 < p.done < 40 for p in seen), "no progress seen mid-run"
        assert max(searched) < 0.15 * 3, "a search waited for the index run"
        assert lib.status().images == 51 and str(more) in lib.status().roots
        with pytest.raises(PixseekError, match="not found"):
            job.start([tmp_path / "typo"])  # answered at once, nothing recorded
        assert str(tmp_path / "typo") not in lib.status().roots


def test_one_index_job_at_a_time(gallery, tmp_path, monkeypatch):
    with pixseek.open(tmp_path / "db", model="fake:pixels") as lib:
        SlowPixels(lib, pause=0.3)
        job = IndexJob(lib, batch_size=2)
        job.start([gallery])
        with pytest.raises(PixseekError, match="already indexing"):
            job.start([gallery])
        assert job.wait(timeout=60).state == "done"

        def broken(*args, **kwargs):
            raise RuntimeError("disk gone")

        monkeypatch.setattr(lib, "index", broken)  # a run that dies in its thread is reported, not lost
        p = job.start([gallery]) and job.wait(timeout=60)
        assert p.state == "failed" and "disk gone" in p.error and not p.running
