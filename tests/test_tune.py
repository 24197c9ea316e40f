"""Tuning (pixseek.adapt), clusters and the Explore tab, with real files and the real CLI: an album
gallery of small pictures drawn per album, indexed with the fake pixel encoder (conftest) so that
every run takes milliseconds; the UI test uses the tiny seeded CLIP."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

import pixseek
from pixseek.cli import main

ALBUMS = ("sea", "forest", "desert", "night")
PER_ALBUM = 8


def draw(album: int, n: int, rng: np.random.Generator) -> Image.Image:
    """A 32x32 picture: the album's colour layout under heavy noise and a large random square, so
    that the model's own vectors mix the albums up a little (there is something to learn)."""
    base = np.zeros((32, 32, 3), np.float32)
    colours = np.random.default_rng(album).uniform(40, 215, size=(2, 3))
    base[:16], base[16:] = colours[0], colours[1]
    base += rng.normal(0, 100, size=base.shape)
    y, x = rng.integers(0, 12, size=2)
    base[y:y + 20, x:x + 20] = rng.uniform(0, 255, size=3)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def albums(tmp_path_factory):
    root = tmp_path_factory.mktemp("albums") / "photos"
    rng = np.random.default_rng(7)
    for a, name in enumerate(ALBUMS):
        (root / name).mkdir(parents=True)
        for n in range(PER_ALBUM):
            draw(a, n, rng).save(root / name / f"{name}-{n}.png")
    return root


@pytest.fixture
def indexed(albums, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(albums, photos)
    db = tmp_path / "db"
    assert main(["index", str(photos), "--db", str(db), "--model", "fake:pixels", "--json"]) == 0
    return photos, db


def run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def searches(capsys, photos, db) -> str:
    """What a user sees: similar and search-by-photo results, as printed (scores included)."""
    out = []
    for name in ("sea/sea-0.png", "forest/forest-3.png", "night/night-5.png"):
        assert main(["similar", str(photos / name), "--db", str(db), "-k", "12", "--json"]) == 0
        assert main(["search", "--image", str(photos / name), "--db", str(db), "-k", "12", "--strong", "--json"]) == 0
        out.append(capsys.readouterr().out)
    return "".join(out)


def test_tune_then_off_restores_the_exact_results(indexed, capsys):
    photos, db = indexed
    capsys.readouterr()
    before = searches(capsys, photos, db)
    store_before = (db / "vectors.faiss").read_bytes()
    code, (report,), _ = run(capsys, "tune", "--from", "folders", "--db", str(db))
    assert code == 0 and report["labels"] == 4 and report["photos"] == 32 and report["test"] == 8
    assert set(report["before"]) == {"precision@10", "mAP", "recall@1", "recall@5"} == set(report["after"])
    assert report["after"]["mAP"] > report["before"]["mAP"]
    adapter = db / report["adapter"]
    assert adapter.is_file() and adapter.stat().st_size < 200_000  # rank 64 x 192 x 2, float32
    tuned = searches(capsys, photos, db)
    assert tuned != before
    assert main(["status", "--db", str(db)]) == 0
    assert "tuned:   from folders (4 labels, 32 photos" in capsys.readouterr().out
    code, (off,), _ = run(capsys, "tune", "--off", "--db", str(db))
    assert code == 0 and off == {"tuned": False, "was_tuned": True}
    assert not list(db.glob("adapter-*"))
    assert searches(capsys, photos, db) == before
    assert (db / "vectors.faiss").read_bytes() == store_before
    code, (again,), _ = run(capsys, "tune", "--off", "--db", str(db))
    assert code == 0 and again["was_tuned"] is False


def test_too_few_labels_are_refused_with_one_line(indexed, capsys, tmp_path):
    photos, db = indexed
    capsys.readouterr()
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"{photos}/sea/sea-{n}.png,sea\n" for n in range(8))
                      + "".join(f"{photos}/forest/forest-{n}.png,forest\n" for n in range(3)))
    code, out, err = run(capsys, "tune", "--from", "labels", str(labels), "--db", str(db))
    assert code == 1 and out == [] and err.startswith("pixseek: too few labels to tune from labels: 8 photos in 1 labels")
    assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(capsys, "tune", "--from", "captions", "--db", str(db))
    assert code == 1 and "needs a CSV file" in err
    code, _, err = run(capsys, "tune", "--from", "labels", str(tmp_path / "nope.csv"), "--db", str(db))
    assert code == 1 and "not found" in err
    code, _, err = run(capsys, "tune", "--db", str(db))
    assert code == 2 and "--from" in err
    code, _, err = run(capsys, "tune", "--from", "duplicates", "--db", str(db))  # no copies among the albums
    assert code == 1 and err.startswith("pixseek: too few labels to tune from duplicates: 0 photos")
    assert pixseek.open(db).tuned() is None  # nothing changed


def test_queries_and_new_photos_pass_through_the_adapter(indexed, tmp_path):
    photos, db = indexed
    with pixseek.open(db) as lib:
        report = lib.tune("folders", holdout=0.25)
        adapter = lib.stores.adapter
        assert adapter is not None and lib.tuned()["source"] == "folders"
        # a query: the photo's raw vector through the adapter, against the adapted store
        query = photos / "desert" / "desert-2.png"
        hits = lib.similar(query, k=5)
        raw = lib.catalog.vectors([h.id for h in hits])
        q = lib.catalog.vectors([lib.catalog.row_by_path(str(query)).id])[0]
        np.testing.assert_allclose([h.score for h in hits], adapter.apply(raw) @ adapter.apply(q), atol=1e-5)
        # a photo indexed after tuning: the catalogue keeps its own vector, the store the adapted one
        Image.open(photos / "sea" / "sea-1.png").transpose(Image.FLIP_LEFT_RIGHT).save(photos / "sea" / "new.png")
        assert lib.index([photos]).added == 1
        row = lib.catalog.row_by_path(str(photos / "sea" / "new.png"))
        own = lib.catalog.vectors([row.id])
        np.testing.assert_allclose(lib.store.get(np.array([row.id])), adapter.apply(own), atol=1e-6)
        assert report.after["precision@10"] >= report.before["precision@10"]


def test_an_interrupted_rebuild_is_finished_on_open(indexed):
    photos, db = indexed
    with pixseek.open(db) as lib:
        lib.tune("folders")
        adapter = lib.stores.adapter
        ids = np.sort(lib.catalog.ids_with_vectors())
        with lib.catalog.transaction() as conn:  # as if killed while the store was being refilled
            lib.catalog.set_meta(conn, "store_space", "rebuilding")
        lib.stores.remove_faiss_file()
    with pixseek.open(db) as lib:
        assert np.array_equal(lib.store.ids(), ids)
        np.testing.assert_allclose(lib.store.get(ids), adapter.apply(lib.catalog.vectors(ids.tolist())), atol=1e-6)
        assert lib.catalog.get_meta("store_space") == adapter.file_name


def test_clusters_json_and_html(indexed, capsys, tmp_path):
    photos, db = indexed
    capsys.readouterr()
    page = tmp_path / "clusters.html"
    code, rows, _ = run(capsys, "clusters", "-k", "4", "--outliers", "3", "--html", str(page), "--db", str(db))
    assert code == 0
    groups = [r for r in rows if "cluster" in r]
    odd = [r for r in rows if "outlier" in r]
    assert [g["cluster"] for g in groups] == [1, 2, 3, 4] and sum(g["size"] for g in groups) == 32
    # albums drawn apart come out as groups: each group is mostly one album
    purity = sum(max(sum(f"/{a}/" in p for p in g["paths"]) for a in ALBUMS) for g in groups) / 32
    assert purity >= 0.75
    assert len(odd) == 3 and all(-1 <= o["similarity"] <= 1 for o in odd)
    text = page.read_text()
    assert text.count("<img") == 32 + 3 and "unlike the rest" in text
    code, _, err = run(capsys, "clusters", "-k", "0", "--db", str(db))
    assert code == 2


def test_a_query_within_some_photos_returns_only_them(indexed):
    photos, db = indexed
    with pixseek.open(db) as lib:
        group = [str(p) for p in sorted((photos / "night").iterdir())][:5]
        results = lib.query_within(pixseek.Query(images=(photos / "sea" / "sea-0.png",), k=10), group)
        assert sorted(h.path for h in results.hits) == sorted(group)


@pytest.mark.slow  # indexes with the tiny CLIP (text+image): a few seconds
def test_captions_learn_text_to_photo_and_too_few_are_refused(photo_dir, tiny_clip, tmp_path, capsys):
    from pixseek.adapt.metrics import caption_figures
    from pixseek.adapt.train import train_pairs

    # the contrastive caption loss on synthetic pairs: captions near their photo, plus a shared offset
    rng = np.random.default_rng(0)
    images = rng.normal(size=(200, 32)).astype(np.float32)
    texts = images + rng.normal(scale=1.5, size=images.shape).astype(np.float32) + 2.0
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    of = np.arange(200)
    adapter = train_pairs(images[:140], texts[:140], of[:140], rank=8, steps=150)
    before = caption_figures(images[140:], texts[140:], of[:60])
    after = caption_figures(adapter.apply(images[140:]), adapter.apply(texts[140:]), of[:60])
    assert after["mAP"] > before["mAP"]
    # through the CLI, with a text+image model: 11 captioned photos are too few
    db = tmp_path / "db"
    assert main(["index", str(photo_dir), "--db", str(db), "--model", tiny_clip, "--json"]) == 0
    captions = tmp_path / "captions.csv"
    captions.write_text("path,caption\n" + "".join(f"{p},a photo of {p.stem}\n" for p in sorted(photo_dir.iterdir())))
    capsys.readouterr()
    code, _, err = run(capsys, "tune", "--from", "captions", str(captions), "--db", str(db))
    assert code == 1 and err == "pixseek: too few captioned photos to tune from captions: 11; tuning needs 20\n"


def test_tune_from_tags(indexed, capsys):
    photos, db = indexed
    code, _, err = run(capsys, "tune", "--from", "tags", "--db", str(db))
    assert code == 1 and "no tags yet" in err
    for album in ("sea", "forest", "desert"):
        assert main(["tag", album, *map(str, sorted((photos / album).iterdir())), "--db", str(db), "--json"]) == 0
    capsys.readouterr()
    code, (report,), _ = run(capsys, "tune", "--from", "tags", "--db", str(db))
    assert code == 0 and (report["source"], report["labels"], report["photos"]) == ("tags", 3, 24)


@pytest.mark.slow  # starts Milvus Lite
def test_tune_and_off_with_milvus(albums, tmp_path, milvus_spec):
    photos = tmp_path / "photos"
    shutil.copytree(albums, photos)
    with pixseek.open(tmp_path / "db", model="fake:pixels", store=milvus_spec) as lib:
        lib.index([photos])
        ids = np.sort(lib.catalog.ids_with_vectors())
        own = lib.catalog.vectors(ids.tolist())
        before = [(h.path, round(h.score, 5)) for h in lib.similar(photos / "sea" / "sea-2.png", k=8)]
        lib.tune("folders")
        np.testing.assert_allclose(lib.store.get(ids), lib.stores.adapter.apply(own), atol=1e-5)
        assert lib.tune_off()
        np.testing.assert_allclose(lib.store.get(ids), own, atol=1e-6)
        assert [(h.path, round(h.score, 5)) for h in lib.similar(photos / "sea" / "sea-2.png", k=8)] == before
