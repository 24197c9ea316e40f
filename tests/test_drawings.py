"""The labelled drawings (Debian's tuxpaint-stamps-default): found, labelled, captioned, rendered."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pixseek.evaluation.drawings import (build_gallery, category_counts, drawings_root, load_drawings,
                                         select_categories)

ROOT = drawings_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="tuxpaint-stamps-default is not installed "
                                "(apt-get install -y tuxpaint-stamps-default, or scripts/install-browser.sh)")


@pytest.fixture(scope="module")
def drawings():
    return load_drawings(ROOT)


def test_drawings_are_labelled_by_their_two_level_folder_and_captioned(drawings):
    assert len(drawings) > 900
    counts = category_counts(drawings)
    assert counts["animals/mammals"] >= 50 and counts["symbols/alphabets"] >= 100
    frog = next(d for d in drawings if d.name == "animals/amphibians/frog")
    assert frog.category == "animals/amphibians" and frog.top == "animals"
    assert frog.captions["en"] == "A frog." and frog.captions["de"] == "Ein Frosch."
    # an SVG with a PNG of the same name is one stamp, counted once
    assert len({d.name for d in drawings}) == len(drawings)


def test_gallery_composites_transparency_on_white_and_keeps_labels(drawings, tmp_path):
    chosen = [d for d in select_categories(drawings, min_count=25) if d.path.suffix == ".png"][::40][:6]
    labels = build_gallery(tmp_path / "flat", chosen, flat=True)
    assert sorted(labels.values()) == sorted(d.category for d in chosen)
    for path in labels:
        assert path.parent == tmp_path / "flat"
        image = Image.open(path)
        assert image.mode == "RGB"
        assert tuple(np.asarray(image)[0, 0]) == (255, 255, 255)  # a stamp's transparent corner
    again = build_gallery(tmp_path / "flat", chosen, flat=True)
    assert again == labels
    nested = build_gallery(tmp_path / "tree", chosen[:1])
    (path, category), = nested.items()
    assert path.parent.name == category.replace("/", "--")
