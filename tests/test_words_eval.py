"""The words evaluation: its scoring against hand-counted cases, the labelled set it builds, and
`pixseek eval words` end to end on a small set (real photos, rendered text, real OCR)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.cli import main
from pixseek.evaluation import words as W


def q(text, kind, *relevant):
    return W.WordsQuery(text, kind, tuple(relevant))


def test_recall_per_kind_and_mode_by_hand():
    queries = [q("bakery", "english_text", "/p/a.jpg"), q("exit", "english_text", "/p/b.jpg"),
               q("porto", "folder", "/p/c.jpg", "/p/d.jpg")]
    answers = {("bakery", "words"): ["/p/a.jpg"], ("bakery", "hybrid"): ["/p/x.jpg", "/p/a.jpg"],
               ("exit", "words"): [], ("exit", "hybrid"): ["/p/1", "/p/2", "/p/3", "/p/4", "/p/5", "/p/b.jpg"],
               ("porto", "words"): ["/p/d.jpg"], ("porto", "hybrid"): ["/p/d.jpg"]}
    report = W.evaluate_queries(lambda text, mode, k: answers[(text, mode)], queries, k=5, unavailable=("visual",))
    # exit's photo is 6th in hybrid: outside the top 5; one relevant photo of two is enough for porto
    assert report.recall == {"english_text": {"words": 0.5, "visual": None, "hybrid": 0.5},
                             "folder": {"words": 1.0, "visual": None, "hybrid": 1.0}}
    assert report.queries == {"english_text": 2, "folder": 1}
    assert report.misses == ["words english_text: 'exit'", "hybrid english_text: 'exit'"]
    t = report.targets()
    assert t["english_text"] == {"target": 0.9, "met": False, "hybrid_ok": True}
    assert t["folder"] == {"target": 1.0, "met": True, "hybrid_ok": True}
    lines = "\n".join(report.lines())
    assert "n/a" in lines and "MISSED" in lines


def test_hybrid_more_than_slack_below_the_better_side_is_flagged():
    queries = [q(str(i), "keyword", f"/p/{i}.jpg") for i in range(50)]

    def search(text, mode, k):
        # words finds all 50; hybrid loses two (0.96 < 1.0 - 0.02)
        return [] if mode == "visual" or (mode == "hybrid" and int(text) < 2) else [f"/p/{text}.jpg"]

    report = W.evaluate_queries(search, queries)
    assert report.recall["keyword"] == {"words": 1.0, "visual": 0.0, "hybrid": 0.96}
    assert report.targets()["keyword"] == {"target": 1.0, "met": True, "hybrid_ok": False}


def test_queries_csv_round_trip_and_bad_rows(tmp_path):
    photos = tmp_path / "set"
    photos.mkdir()
    queries = [W.WordsQuery("收据", "chinese_text", (str(photos / "a.jpg"),), "sign"),
               W.WordsQuery("porto", "folder", (str(photos / "Porto 2021" / "b.jpg"), str(photos / "c.jpg")))]
    W.write_queries(photos / "queries.csv", queries)
    assert W.read_queries(photos / "queries.csv") == queries
    bad = tmp_path / "bad.csv"
    bad.write_text("query,kind,relevant\nonly a query\n", encoding="utf-8")
    with pytest.raises(W.PixseekError, match=r"bad.csv:1: expected query, kind, relevant"):
        W.read_queries(bad)


def test_eval_words_needs_an_existing_csv(capsys):
    assert main(["eval", "words", "/no/such/queries.csv"]) == 1
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    pytest.importorskip("skimage")
    folder = tmp_path_factory.mktemp("words-set")
    notes: list[str] = []
    return folder, W.build_words_set(folder, small=True, on_note=notes.append), notes


def test_the_small_set_is_labelled_real_photos(small_set):
    folder, queries, notes = small_set
    kinds = {k: sum(1 for x in queries if x.kind == k) for k in W.KINDS}
    want = {k: n for k, n in W.SMALL.items() if k != "plain"}
    if notes:  # no CJK font here: the Chinese queries are left out, and the note says how to get them
        assert W.CJK_PACKAGE in notes[0]
        want["chinese_text"] = 0
    assert kinds == want
    for x in queries:
        assert x.relevant and all(Path(p).is_file() for p in x.relevant)
    # every query is unique to its photos, and the folder and file-name words are really there
    assert len({x.text for x in queries}) == len(queries)
    for x in queries:
        if x.kind == "folder":
            assert all(Path(p).parent.name in x.note for p in x.relevant)
        if x.kind == "file_name":
            assert Path(x.relevant[0]).name in x.note
    # keywords: a sidecar next to the photo (either naming) or XMP inside the JPEG
    for x in (x for x in queries if x.kind == "keyword"):
        photo = Path(x.relevant[0])
        sidecars = [photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp")]
        packet = next((s.read_bytes() for s in sidecars if s.exists()), None)
        if packet is None:
            with Image.open(photo) as im:
                packet = im.info.get("xmp")
        assert packet and x.text.encode() in packet and b"dc:subject" in packet
    # text photos differ from the photo they were made from where the words are (and not elsewhere)
    plain = sorted((folder / "plain").glob("*.jpg"))
    assert len(plain) == W.SMALL["plain"]
    assert len(list(folder.rglob("*.jpg"))) == len(plain) + sum(len(x.relevant) for x in queries)


def test_rendered_text_is_where_it_should_be():
    rng = W.random.Random(0)
    base = Image.new("RGB", (800, 600), (90, 120, 60))
    font = W.available_fonts(chinese=False)[0]
    for style in ("sign", "caption"):
        out = np.asarray(W.render_text(base, "Fresh Bakery", font, rng, height_frac=0.06, angle=4.0, style=style),
                         dtype=np.int16)
        changed = np.abs(out - np.asarray(base, dtype=np.int16)).sum(axis=2) > 30
        ys, xs = np.nonzero(changed)
        # one compact block of text a few percent of the photo, not scattered noise
        assert 0.005 < changed.mean() < 0.1
        assert xs.max() - xs.min() < 500 and ys.max() - ys.min() < 150


@pytest.mark.slow
def test_eval_words_end_to_end_on_a_small_set(tmp_path, tiny_clip, capsys):
    """`pixseek eval words --small`: real photos with rendered text, real OCR (RapidOCR), the FTS
    index and fusion; the tiny seeded CLIP is random, so the words side carries the text queries and
    hybrid must not lose what it finds. Then the set's own queries.csv, evaluated as a user's CSV
    against the index just built, gives the same numbers."""
    pytest.importorskip("skimage")
    pytest.importorskip("rapidocr_onnxruntime", reason="OCR: pip install rapidocr_onnxruntime")
    work = tmp_path / "work"
    assert main(["eval", "words", "--small", "--json", "--ocr", "auto", "--keep", str(work), "--model", tiny_clip]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    kinds = report["recall"]
    assert set(kinds) <= set(W.KINDS) and {"english_text", "folder", "file_name", "keyword"} <= set(kinds)
    assert report["queries"]["english_text"] == W.SMALL["english_text"]
    for kind, t in report["targets"].items():
        assert t["hybrid_ok"], (kind, kinds[kind], report["misses"])
    # Text in photos: with 4 English and 3 Chinese queries one OCR misread is 0.75 / 0.67, below the
    # targets (which the full set measures: docs/search.md). What holds at this size: at most one
    # misread per language ("Fresh Bakery" read "Fresh Bakert" at 1024 px with OCR auto v2).
    assert kinds["english_text"]["words"] >= 0.75 and kinds["english_text"]["hybrid"] >= 0.75, report["misses"]
    if "chinese_text" in kinds:
        assert kinds["chinese_text"]["words"] >= 0.66 and kinds["chinese_text"]["hybrid"] >= 0.66, report["misses"]
    # names and keywords come from the words side alone, and every one of them is found
    for kind in ("folder", "file_name", "keyword"):
        assert kinds[kind]["words"] == 1.0 and kinds[kind]["hybrid"] == 1.0
    assert report["photos"] == len(list((work / "set").rglob("*.jpg")))

    assert main(["eval", "words", str(work / "set" / "queries.csv"), "--db", str(work / "db"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["recall"] == kinds
