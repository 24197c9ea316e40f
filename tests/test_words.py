"""Words in and about photos: real OCR (RapidOCR) on real photos with text rendered in real fonts,
file and folder names, EXIF/XMP/IPTC metadata embedded and in sidecars, the FTS5 keyword index,
hybrid search fused with the vector side, and bad input skipped with a reason."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import pixseek
from conftest import photo_array
from pixseek.cli import main
from pixseek.errors import QueryError
from pixseek.search import Filters, Query
from pixseek.words.tokens import index_text, query_terms, split_name

# real OCR on a dozen photos, built once for the module: seconds, not milliseconds
pytestmark = pytest.mark.slow

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
needs_dejavu = pytest.mark.skipif(not DEJAVU.exists(), reason="fonts-dejavu-core is not installed "
                                  "(scripts/install-browser.sh installs it)")
needs_cjk = pytest.mark.skipif(not NOTO_CJK.exists(), reason="fonts-noto-cjk is not installed "
                               "(scripts/install-browser.sh installs it)")


def xmp(subjects=(), title=None, description=None) -> str:
    bag = "".join(f"<rdf:li>{s}</rdf:li>" for s in subjects)
    parts = [f"<dc:subject><rdf:Bag>{bag}</rdf:Bag></dc:subject>" if subjects else ""]
    if title:
        parts.append(f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>')
    if description:
        parts.append(f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li>'
                     "</rdf:Alt></dc:description>")
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">' + "".join(parts) +
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def with_text(photo: str, lines: list[tuple[str, Path, int, tuple[int, int]]], width: int = 800) -> Image.Image:
    """A real photo with text drawn on it (a sign, a caption), in a real font."""
    im = Image.fromarray(photo_array(photo))
    im = im.resize((width, round(im.height * width / im.width)))
    draw = ImageDraw.Draw(im)
    for text, font, size, (x, y) in lines:
        f = ImageFont.truetype(str(font), size)
        box = draw.textbbox((x, y), text, font=f)
        draw.rectangle((box[0] - 8, box[1] - 8, box[2] + 8, box[3] + 8), fill=(250, 250, 245))
        draw.text((x, y), text, font=f, fill=(20, 20, 20))
    return im


def save_rotated(im: Image.Image, path: Path, orientation: int) -> None:
    """Store ``im`` the way a camera held sideways does: pixels turned, EXIF orientation to undo it."""
    turn = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.transpose(turn).save(path, quality=92, exif=exif)


@pytest.fixture(scope="module")
def words_gallery(tmp_path_factory) -> Path:
    g = tmp_path_factory.mktemp("words") / "photos"
    (g / "Porto 2021").mkdir(parents=True)
    (g / "AnnaWedding2015").mkdir()
    Image.fromarray(photo_array("astronaut")).resize((300, 300)).save(g / "AnnaWedding2015" / "DSC_1.jpg")
    for name in ("chelsea", "coffee"):
        Image.fromarray(photo_array(name)).save(g / "Porto 2021" / f"{name}.jpg", quality=90)
    Image.fromarray(photo_array("rocket")).save(g / "insurance-claim-2022.jpg", quality=90)
    Image.fromarray(photo_array("hubble_deep_field")).save(g / "myHolidayPics.jpg", quality=90)
    # keywords: a darktable sidecar (NAME.jpg.xmp), a Lightroom one (NAME.xmp), embedded XMP + EXIF
    Image.fromarray(photo_array("moon")).save(g / "IMG_0001.jpg", quality=90)
    (g / "IMG_0001.jpg.xmp").write_text(xmp(["glacier", "Café du Monde"], title="Ice field"))
    Image.fromarray(photo_array("brick")).save(g / "IMG_0002.jpg", quality=90)
    (g / "IMG_0002.xmp").write_text(xmp(["places|Portugal|Lisbon"], description="A wall in the old town of Lisbon"))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D Mark IV"
    Image.fromarray(photo_array("camera")).save(g / "IMG_0003.jpg", quality=90, exif=exif,
                                                 xmp=xmp(["tripod", "studio"]).encode())
    # bad metadata: a binary sidecar, an absurdly large one, garbage embedded XMP
    Image.fromarray(photo_array("astronaut")).save(g / "IMG_0004.jpg", quality=90)
    (g / "IMG_0004.jpg.xmp").write_bytes(os.urandom(4096))
    Image.fromarray(photo_array("immunohistochemistry")).save(g / "IMG_0005.jpg", quality=90)
    (g / "IMG_0005.xmp").write_text(xmp(["huge"], description="x" * (3 * 1024 * 1024)))
    Image.fromarray(photo_array("retina")).resize((600, 600)).save(g / "IMG_0006.jpg", quality=90,
                                                                   xmp=b"<x:xmpmeta \x00\xff garbage")
    # text in photos: a sign on a photo held sideways (EXIF orientation 6), a Chinese receipt caption
    if DEJAVU.exists():
        save_rotated(with_text("astronaut", [("ROUTER LOGIN", DEJAVU, 44, (60, 60)),
                                             ("admin password 8080", DEJAVU, 30, (60, 140))]),
                     g / "screenshot.jpg", 6)
    if NOTO_CJK.exists():
        with_text("coffee", [("收据 总计 128元", NOTO_CJK, 48, (60, 40))]).save(g / "IMG_2041.jpg", quality=92)
    return g


@pytest.fixture(scope="module")
def words_lib(words_gallery, tmp_path_factory):
    """An image-only index (the EfficientNet case) with OCR auto: text queries use the words side."""
    lib = pixseek.open(tmp_path_factory.mktemp("words-db"), model="fake:pixels", ocr="auto")
    report = lib.index([words_gallery])
    assert report.skipped == 0
    yield lib
    lib.close()


def first(lib, text, **kw):
    hits = lib.search(text, k=3, **kw)
    return (os.path.basename(hits[0].path), hits[0].why) if hits else (None, ())


# -- tokens -------------------------------------------------------------------------------------------
def test_names_split_and_cjk_bigrams():
    assert split_name("insurance-claim_2022") == "insurance claim 2022"
    assert split_name("IMG_20210704myHolidayPics") == "IMG 20210704 my Holiday Pics"
    assert index_text("收据总计128元 Café") == "收据 据总 总计 128 元 café"
    assert query_terms("收据 rout") == ['"收据"', '"rout"*']


# -- OCR ------------------------------------------------------------------------------------------
@needs_dejavu
def test_text_in_a_photo_held_sideways_is_found(words_lib, words_gallery):
    name, why = first(words_lib, "router login")
    assert name == "screenshot.jpg"
    assert any(w.startswith("text in photo:") and "ROUTER LOGIN" in w for w in why), why
    assert first(words_lib, "rout")[0] == "screenshot.jpg"  # partial words
    assert first(words_lib, "8080")[0] == "screenshot.jpg"  # numbers
    words = words_lib.words_for(words_gallery / "screenshot.jpg", "login")
    ocr = [w for w in words if w.kind == "ocr"]
    assert [w.matched for w in ocr] == [True, False]
    # boxes in the upright photo's pixels (800 wide, text near the top left), confidence kept
    (x0, y0), _, (x2, y2), _ = ocr[0].box
    assert 30 < x0 < 120 and 30 < y0 < 120 and x2 > 300 and y2 < 180 and ocr[0].confidence > 0.8


@needs_cjk
def test_chinese_text_is_found_by_a_two_character_word(words_lib):
    name, why = first(words_lib, "收据")
    assert name == "IMG_2041.jpg" and why[0].startswith('text in photo: "收据'), why
    assert first(words_lib, "总计")[0] == "IMG_2041.jpg"


def test_photos_without_text_have_no_ocr_words(words_lib, words_gallery):
    assert not [w for w in words_lib.words_for(words_gallery / "Porto 2021" / "coffee.jpg") if w.kind == "ocr"]


@needs_dejavu
def test_turning_a_photo_again_keeps_its_text(words_gallery, tmp_path):
    g = tmp_path / "g"
    g.mkdir()
    shutil.copy2(words_gallery / "screenshot.jpg", g / "screenshot.jpg")
    with pixseek.open(tmp_path / "db", model="fake:pixels", ocr="auto") as lib:
        lib.index([g])
        assert first(lib, "router login", mode="words")[0] == "screenshot.jpg"
        # the user turns it the other way in a viewer that rewrites the file: new bytes, new OCR
        upright = Image.open(g / "screenshot.jpg").transpose(Image.Transpose.ROTATE_270)
        save_rotated(upright, g / "screenshot.jpg", 8)
        assert lib.index().updated == 1
        assert first(lib, "router login", mode="words")[0] == "screenshot.jpg"


# -- names and metadata ---------------------------------------------------------------------------
def test_folder_and_file_names_are_words(words_lib):
    hits = words_lib.search("porto", k=5)
    assert sorted(os.path.basename(h.path) for h in hits) == ["chelsea.jpg", "coffee.jpg"]
    assert hits[0].why == ("folder: Porto 2021",)
    assert first(words_lib, "claim 2022") == ("insurance-claim-2022.jpg", ("file name: insurance claim 2022",))
    assert first(words_lib, "holiday")[0] == "myHolidayPics.jpg"
    assert first(words_lib, "wedding") == ("DSC_1.jpg", ("folder: AnnaWedding2015",))  # camelCase folder
    # both words in one place come first: the coffee photo of Porto
    assert first(words_lib, "porto coffee")[0] == "coffee.jpg"


def test_keywords_from_sidecars_and_embedded_metadata(words_lib):
    assert first(words_lib, "glacier") == ("IMG_0001.jpg", ("keyword: glacier",))
    assert first(words_lib, "cafe")[0] == "IMG_0001.jpg"  # accents and case folded
    assert first(words_lib, "ice field")[0] == "IMG_0001.jpg"  # dc:title
    assert first(words_lib, "lisbon")[0] == "IMG_0002.jpg"  # Lightroom hierarchy + description
    assert first(words_lib, "tripod") == ("IMG_0003.jpg", ("keyword: tripod",))  # embedded XMP
    assert first(words_lib, "canon eos")[1] == ("camera: Canon EOS 5D Mark IV",)  # EXIF


def test_bad_metadata_is_skipped_with_a_reason(words_lib, words_gallery):
    problems = dict(words_lib.word_problems())
    assert "XMP unreadable" in problems[str(words_gallery / "IMG_0004.jpg")]
    assert "too large" in problems[str(words_gallery / "IMG_0005.jpg")]
    assert any("XMP unreadable" in r for o, r in problems.items() if o.startswith("metadata:"))
    status = words_lib.status()  # what `pixseek status` lists
    assert {p.path for p in status.word_problems} >= {str(words_gallery / "IMG_0004.jpg"),
                                                       str(words_gallery / "IMG_0005.jpg")}
    assert status.words["keyword"] >= 6 and status.words["file"] == status.images
    # the photos themselves are indexed and keep their other words
    assert first(words_lib, "IMG 0005")[0] == "IMG_0005.jpg"
    assert words_lib.status().images == len(list(words_gallery.rglob("*.jpg")))


def test_a_changed_sidecar_is_read_again_without_encoding(words_gallery, tmp_path):
    g = tmp_path / "g"
    g.mkdir()
    shutil.copy2(words_gallery / "IMG_0001.jpg", g / "IMG_0001.jpg")
    (g / "IMG_0001.jpg.xmp").write_text(xmp(["glacier"]))
    db = tmp_path / "db"
    with pixseek.open(db, model="fake:pixels", ocr="off") as lib:
        lib.index([g])
    (g / "IMG_0001.jpg.xmp").write_text(xmp(["iceberg", "Greenland"]))
    with pixseek.open(db) as lib:
        report = lib.index()
        assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
        assert lib._encoder is None  # nothing decoded or encoded
        assert lib.search("glacier", mode="words") == []
        assert first(lib, "greenland", mode="words") == ("IMG_0001.jpg", ("keyword: Greenland",))
        # moved to another folder: the folder words follow, the sidecar too
        (g / "Iceland").mkdir()
        for name in ("IMG_0001.jpg", "IMG_0001.jpg.xmp"):
            os.rename(g / name, g / "Iceland" / name)
        before = lib.catalog.row_by_path(str(g / "IMG_0001.jpg")).id
        report = lib.index(moves=[(g / "IMG_0001.jpg", g / "Iceland" / "IMG_0001.jpg")])
        assert (report.added, report.updated) == (0, 0)
        assert lib.catalog.row_by_path(str(g / "Iceland" / "IMG_0001.jpg")).id == before  # same vector
        assert first(lib, "iceland greenland", mode="words")[0] == "IMG_0001.jpg"


@needs_dejavu
def test_ocr_is_filled_in_later_in_the_background_without_encoding_while_search_works(words_gallery, tmp_path):
    from pixseek.jobs import IndexJob

    g = tmp_path / "g"
    g.mkdir()
    for name in ("screenshot.jpg", "insurance-claim-2022.jpg", "myHolidayPics.jpg"):
        shutil.copy2(words_gallery / name, g / name)
    db = tmp_path / "db"
    with pixseek.open(db, model="fake:pixels", ocr="off") as lib:
        lib.index([g])
    with pixseek.open(db, ocr="auto") as lib:  # e.g. pixseek upgraded, or OCR switched on
        assert lib.search("router login", mode="words") == []
        job = IndexJob(lib)
        job.start()
        during = [first(lib, "holiday", mode="words")[0]]  # searches answer while OCR runs
        while job.progress().running:
            during.append(first(lib, "holiday", mode="words")[0])
        report = job.wait().report
        assert set(during) == {"myHolidayPics.jpg"}
        assert "filled in ocr for 3 photos indexed before" in report.notes
        assert lib._encoder is None  # no vector was encoded again
        assert first(lib, "router login")[0] == "screenshot.jpg"


def test_ocr_failure_is_skipped_with_a_reason(words_gallery, tmp_path, monkeypatch):
    from pixseek.words import ocr

    def missing():
        raise ocr.OcrUnavailable("OCR needs rapidocr_onnxruntime (ImportError: no module named 'cv2')")

    monkeypatch.setattr(ocr, "_engine", missing)  # as on a machine where OpenCV cannot load
    g = tmp_path / "g"
    g.mkdir()
    shutil.copy2(words_gallery / "insurance-claim-2022.jpg", g)
    with pixseek.open(tmp_path / "db", model="fake:pixels", ocr="on") as lib:
        assert lib.index([g]).added == 1
        assert any("OCR failed: OcrUnavailable" in r for _, r in lib.word_problems())
        assert first(lib, "insurance")[0] == "insurance-claim-2022.jpg"


# -- search -------------------------------------------------------------------------------------------
def test_image_only_index_says_once_that_text_goes_to_the_words(words_lib):
    results = words_lib.query(Query(text="glacier"))
    assert results.mode == "hybrid" and "encodes images only" in results.note
    assert words_lib.query(Query(text="glacier", mode="words")).note is None
    with pytest.raises(QueryError, match="--mode words needs a text"):
        Query(images=["x.jpg"], mode="words")
    with pytest.raises(QueryError, match="--mode must be one of"):
        Query(text="x", mode="both")


def test_hybrid_fuses_both_sides_and_filters_pages_and_copies_apply(words_gallery, tmp_path, tiny_clip):
    g = tmp_path / "g"
    shutil.copytree(words_gallery, g, ignore=shutil.ignore_patterns("IMG_000[4-6]*"))
    shutil.copy2(g / "IMG_0001.jpg", g / "IMG_0001-copy.jpg")
    with pixseek.open(tmp_path / "db", model=tiny_clip, ocr="off") as lib:
        lib.index([g])
        results = lib.query(Query(text="glacier"))
        assert results.mode == "hybrid" and results.note is None
        top = results.hits[0]
        assert os.path.basename(top.path) == "IMG_0001.jpg" and top.copies == (str(g / "IMG_0001-copy.jpg"),)
        assert top.why[0] == "keyword: glacier" and top.why[-1].startswith("looks like the query (")
        # every other hit comes from the vector side alone
        assert all(len(h.why) == 1 and h.why[0].startswith("looks like") for h in results.hits[1:])
        # pages of the fused list
        ten = [h.id for h in lib.search("glacier", k=10)]
        assert [h.id for h in lib.search("glacier", k=5)] + [h.id for h in lib.search("glacier", k=5, offset=5)] == ten
        # filters apply to both sides
        hits = lib.search("glacier", k=20, filters=Filters(under=[str(g / "Porto 2021")]))
        assert sorted(os.path.basename(h.path) for h in hits) == ["chelsea.jpg", "coffee.jpg"]
        # strong: the vector side's cut-off, the words side's matches kept
        strong = lib.query(Query(text="glacier", strong=True))
        assert os.path.basename(strong.hits[0].path) == "IMG_0001.jpg"
        # visual: the cosine ranking as before, words play no part
        visual = lib.search("glacier", k=3, mode="visual")
        assert all(h.why == (f"looks like the query ({h.score:.2f})",) for h in visual)


def test_cli_mode_json_and_ocr_flag(words_lib, words_gallery, tmp_path, capsys):
    db = str(words_lib.db_dir)
    assert main(["search", "--db", db, "glacier", "--mode", "words", "--json"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["path"] == str(words_gallery / "IMG_0001.jpg") and out[0]["why"] == ["keyword: glacier"]
    assert main(["search", "--db", db, "claim"]) == 0
    captured = capsys.readouterr()
    assert "insurance-claim-2022.jpg  [file name: insurance claim 2022]" in captured.out
    assert captured.err.count("encodes images only") == 1
    with pytest.raises(SystemExit) as exc:
        main(["search", "--db", db, "x", "--mode", "both"])
    assert exc.value.code == 2
    g = tmp_path / "g"
    g.mkdir()
    shutil.copy2(words_gallery / "myHolidayPics.jpg", g)
    assert main(["index", str(g), "--db", str(tmp_path / "db"), "--model", "fake:pixels", "--ocr", "off",
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["status", "--db", str(tmp_path / "db"), "--json"]) == 0
    signals = {s["name"] for s in json.loads(capsys.readouterr().out)["signals"]}
    assert "metadata" in signals and "ocr" not in signals  # the index remembers --ocr off


# -- the web UI's search tab (its handlers, as the page calls them) ----------------------------------
@needs_dejavu
def test_ui_shows_matched_words_and_boxes_the_text_that_matched(words_lib, words_gallery):
    import numpy as np
    from pixseek.ui.search_tab import SearchEvents

    events = SearchEvents(words_lib, 6)
    items, hits, active, status, _, _ = events.run(None, text="login", k=6, mode="auto")
    assert " · screenshot.jpg · text in photo: \"ROUTER LOGIN\"" in items[0][1], items[0][1]
    image, info, _ = events.open_detail(0, hits, active)
    assert "**Found by** text in photo" in info
    from pixseek.thumbs import PREVIEW_SIZE

    px = np.asarray(image).astype(int)
    plain = np.asarray(Image.open(words_lib.thumbnail(words_gallery / "screenshot.jpg", PREVIEW_SIZE))).astype(int)
    assert px.shape == plain.shape
    # amber filled over the matched line (upright "ROUTER LOGIN", top left); the other line only outlined
    w = px.shape[1] / 800
    amber = (plain[..., 2] - px[..., 2] > 40) & (px[..., 0] >= plain[..., 0] - 5)
    top = amber[int(65 * w):int(105 * w), int(70 * w):int(300 * w)].mean()
    other = amber[int(145 * w):int(170 * w), int(70 * w):int(300 * w)].mean()
    assert top > 0.5 and other < 0.05, (top, other)
    # the mode is a control: visual on an image-only index refuses a text, in one line
    out = events.run(None, text="login", k=6, mode="visual")
    assert "images only" in out[3]
