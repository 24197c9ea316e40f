"""How well does ``--strong`` separate relevant results from the rest, on real photos and real features?

    python bench/strong_cutoff.py [--model timm:tf_efficientnet_lite0 --pretrained wheel]

The collection: Debian wallpapers and scikit-image photos (fetched with ``apt-get download`` into
``.cache/query-bench``, never committed), each shrunk to 768 px, plus seeded edits of most of them
(a 55 % crop, a 20 degree turn, grey, dark, a 25 % shrink at JPEG quality 30, a mirror image, a
blur). A *query* is one original photo, encoded from its file; the photo itself is not in the
collection: what is relevant to it is its edits and the other colour/light variants of its design.
Held-out photos without any edit in the collection are *null* queries: nothing is relevant to them.

For each z it prints the precision and recall of "score >= median + z x spread" over all queries,
the strong results a null query gets on average, and, over every irrelevant (query, image) pair,
how often z is reached (what a normal background would give: 1 - Phi(z)). The rows use the very
function ``--strong`` uses (``pixseek.search.cutoff.strong_cutoff``), and one end-to-end run of
``Library.query(strong=True)`` checks that the library agrees with it at the default z.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import pixseek  # noqa: E402
from pixseek import Query  # noqa: E402
from pixseek.search.cutoff import STRONG_Z, background_sample, strong_cutoff  # noqa: E402
from wallpapers import unpack  # noqa: E402  (bench/wallpapers.py: the same four Debian packages)

CACHE = ROOT / ".cache" / "query-bench"
SKIMAGE = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
           "moon", "camera", "page", "brick", "grass", "gravel", "coins", "clock", "horse", "cell", "colorwheel"]
SIDE = 768
EDITS = ["crop", "turn", "grey", "dark", "small", "mirror", "blur"]
ZS = [2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0]
NULL_SHARE = 0.2  # of the originals, held out as null queries


def originals() -> list[tuple[str, str, Image.Image]]:
    """(name, design, picture) for every distinct source picture."""
    out = []
    root = unpack(CACHE)
    seen: set[tuple[str, str]] = set()
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or path.is_symlink() or not path.is_file():
            continue
        parts = path.relative_to(root).parts
        # Plasma ships one picture at several sizes (and sometimes a dark variant) per design folder
        design = parts[3] if parts[:3] == ("usr", "share", "wallpapers") else path.stem
        design = re.sub(r"_\d+x\d+$", "", design)  # one picture shipped at several sizes
        variant = "dark" if "dark" in str(path).lower() else "light"
        if (design, variant) in seen or "/doc/" in str(path):
            continue
        seen.add((design, variant))
        with Image.open(path) as im:
            if min(im.size) < 300:
                continue
            out.append((f"{design}-{variant}", design, shrink(im.convert("RGB"))))
    import skimage.data

    for name in SKIMAGE:
        arr = getattr(skimage.data, name)()
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        out.append((name, name, shrink(Image.fromarray(np.ascontiguousarray(arr[..., :3]).astype(np.uint8)))))
    return out


def shrink(im: Image.Image) -> Image.Image:
    im = im.copy()
    im.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
    return im


def edit(im: Image.Image, kind: str) -> Image.Image:
    w, h = im.size
    if kind == "crop":
        return im.crop((int(w * 0.2), int(h * 0.25), int(w * 0.75), int(h * 0.8)))
    if kind == "turn":
        return im.rotate(20, resample=Image.Resampling.BICUBIC, expand=False)
    if kind == "grey":
        return ImageOps.grayscale(im).convert("RGB")
    if kind == "dark":
        return ImageEnhance.Brightness(im).enhance(0.45)
    if kind == "small":
        return im.resize((max(1, w // 4), max(1, h // 4)))
    if kind == "mirror":
        return ImageOps.mirror(im)
    if kind == "blur":
        return im.filter(ImageFilter.GaussianBlur(4))
    raise ValueError(kind)


def build(folder: Path) -> tuple[dict[str, Path], dict[str, set[str]], list[str]]:
    """Write the collection; return the query files, each query's relevant collection files, the nulls."""
    sources = originals()
    rng = random.Random(0)
    designs = sorted({d for _, d, _ in sources})
    held_out = set(rng.sample(designs, int(len(designs) * NULL_SHARE)))  # whole designs, variants too
    nulls = {n for n, d, _ in sources if d in held_out}
    queries, relevant = {}, {}
    coll = folder / "collection"
    coll.mkdir(parents=True)
    qdir = folder / "queries"
    qdir.mkdir()
    by_design: dict[str, list[str]] = {}
    for name, design, im in sources:
        q = qdir / f"{name}.jpg"
        im.save(q, quality=92)
        queries[name] = q
        if name in nulls:
            continue
        by_design.setdefault(design, []).append(name)
        for kind in EDITS:
            out = coll / f"{name}__{kind}.jpg"
            edit(im, kind).save(out, quality=30 if kind == "small" else 90)
            relevant.setdefault(name, set()).add(str(out))
    for design, members in by_design.items():
        for a in members:
            for b in members:
                if a != b:
                    relevant[a] |= {p for p in relevant[b] if "__" in p}
    return queries, relevant, sorted(nulls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="timm:tf_efficientnet_lite0")
    ap.add_argument("--pretrained", default="wheel")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        queries, relevant, nulls = build(tmp)
        lib = pixseek.open(tmp / "db", model=args.model, pretrained=args.pretrained)
        report = lib.index([tmp / "collection"])
        print(f"collection: {report.added} images ({len(relevant)} queries with edits, {len(nulls)} null queries), "
              f"model {args.model} {args.pretrained}; built and indexed in {time.perf_counter() - t0:.0f} s")
        ids = lib.catalog.ids_with_vectors()
        vecs = lib.catalog.vectors(ids.tolist())
        path_of = {r.id: r.path for r in lib.catalog.rows_by_ids(ids.tolist()).values()}
        paths = np.array([path_of[int(i)] for i in ids])
        background = background_sample(lib.store)
        qvec = {n: lib.searcher.vector(Query(images=[p]).terms())[0][0] for n, p in queries.items()}

        rows = []
        for z in ZS:
            tp = fp = fn = 0
            null_strong = []
            irrelevant_pairs = irrelevant_over = 0
            for name, q in qvec.items():
                cut = strong_cutoff(q, background, z)
                scores = vecs @ q
                strong = scores >= cut.threshold
                rel = np.isin(paths, list(relevant.get(name, ())))
                if name in nulls:
                    null_strong.append(int(strong.sum()))
                else:
                    tp += int((strong & rel).sum())
                    fp += int((strong & ~rel).sum())
                    fn += int((~strong & rel).sum())
                irrelevant_pairs += int((~rel).sum())
                irrelevant_over += int((strong & ~rel).sum())
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn) if tp + fn else 1.0
            normal = 0.5 * math.erfc(z / math.sqrt(2))
            rows.append((z, precision, recall, np.mean(null_strong), irrelevant_over / irrelevant_pairs, normal))

        print(f"\n{'z':>4} {'precision':>9} {'recall':>7} {'strong/null query':>17} "
              f"{'irrelevant >= z':>15} {'normal tail':>11}")
        for z, p, r, nulls_mean, over, normal in rows:
            mark = "  <- default" if z == STRONG_Z else ""
            print(f"{z:4.1f} {p:9.3f} {r:7.3f} {nulls_mean:17.2f} {over:15.2e} {normal:11.2e}{mark}")

        # the library end to end at the default z, on every query with edits
        agree = 0
        for name in relevant:
            res = lib.query(Query(images=[queries[name]], k=200, strong=True, collapse=False))
            cut = strong_cutoff(qvec[name], background)
            want = int((vecs @ qvec[name] >= cut.threshold).sum())
            agree += res.strong == want == len(res.hits)
        print(f"\nLibrary.query(strong=True) agrees with the table at z={STRONG_Z} on {agree}/{len(relevant)} queries")

        # What the "irrelevant" strong results are: the labels only know a photo's own edits
        print(f"\nstrong results outside the labels at z={STRONG_Z}, for a few queries:")
        shown = 0
        for name, q in sorted(qvec.items()):
            cut = strong_cutoff(q, background)
            scores = vecs @ q
            order = np.argsort(-scores)
            rel = set(relevant.get(name, ()))
            extra = [Path(paths[i]).stem for i in order if scores[i] >= cut.threshold and paths[i] not in rel]
            if extra and shown < 8 and (name in nulls or len(extra) >= 5):
                shown += 1
                tag = " (null query)" if name in nulls else ""
                print(f"  {name}{tag}: {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}")
        lib.close()


if __name__ == "__main__":
    main()
