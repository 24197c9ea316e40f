"""The Explore tab through its real HTTP API (gradio_client): groups of look-alike photos, opening
one and searching inside it, outliers, and the tune button with its before/after figures then back.
The gallery is ``ui_support.query_gallery`` (photos, a trip of crops, 40 grey frames, two copies),
indexed with the fake pixel encoder (conftest: milliseconds; image-only, so words are refused)."""

from __future__ import annotations

import os

import pytest

from ui_support import query_gallery, running_app

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def served(photo_dir, tmp_path_factory):
    photos = query_gallery(photo_dir, tmp_path_factory.mktemp("explore") / "photos")
    with running_app(photos, tmp_path_factory.mktemp("ui-explore"), "fake:pixels") as (url, lib, gallery):
        yield url, lib, gallery


@pytest.fixture
def client(served, tmp_path):
    return gradio_client.Client(served[0], verbose=False, download_files=str(tmp_path / "downloads"))


def test_groups_open_and_search_inside(client, served):
    _, lib, gallery = served
    status, groups, odd = client.predict(4, api_name="/clusters")
    total = lib.status().images
    assert status == f"{total} photos in 4 groups" and len(groups) == 4
    sizes = [int(g["caption"].split(" · ")[1].split()[0]) for g in groups]
    assert sum(sizes) == total and sizes == sorted(sizes, reverse=True)
    assert len(odd) == 10 and all(os.path.isfile(o["image"]) for o in odd)
    expected = lib.clusters(4)
    assert sizes == [c.size for c in expected.clusters]
    title, members, chosen = client.predict(1, api_name="/open_cluster")
    assert title.startswith(f"**Group 2** · {sizes[1]} photos") and len(members) == sizes[1] and chosen == 1
    assert [m["caption"] for m in members] == [os.path.basename(p) for p in expected.clusters[1].paths]
    # searching inside: this model encodes images only, so the text is matched against the words
    # in and about the photos (their file names here) instead of being refused
    name = os.path.splitext(members[0]["caption"])[0]
    found, title = client.predict(name, 1, api_name="/search_cluster")
    assert title.startswith("**Group 2**") and any(f" · {members[0]['caption']} · " in f["caption"] for f in found)
    found, title = client.predict("a grey frame", 1, api_name="/search_cluster")
    assert title == "**Group 2** · 0 photos for “a grey frame”" and found == []


def test_tune_button_shows_before_and_after_then_goes_back(client, served):
    _, lib, gallery = served
    assert client.predict(api_name="/tuning").startswith("Not tuned")
    query = gallery / "trip" / "coffee-edit3.jpg"
    before = [(h.path, h.score) for h in lib.similar(query, k=10)]
    state, figures = client.predict("folders", api_name="/tune")
    assert state.startswith("Tuned from **folders** (3 labels") and "| precision@10 |" in state
    assert figures.startswith("Tuned on 3 labels") and "| mAP |" in figures
    assert lib.tuned()["source"] == "folders"
    state, figures = client.predict(api_name="/tune_off")
    assert state.startswith("Not tuned") and figures == "Back to the model's own vectors."
    assert [(h.path, h.score) for h in lib.similar(query, k=10)] == before
    _, figures = client.predict("tags", api_name="/tune")
    assert figures.startswith("⚠️") and "\n" not in figures
