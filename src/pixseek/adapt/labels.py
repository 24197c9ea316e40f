"""Where tuning labels come from. Every source gives indexed photos (their stored vectors) and a
label each; captions give (photo, caption) pairs instead.

- ``folders``: each photo's album is its folder relative to the indexed folder that holds it;
- ``labels FILE.csv``: rows of ``path,label`` (paths relative to the file's folder allowed);
- ``duplicates``: each group of exact or near-exact copies is a label (pictures that are the same);
- ``captions FILE.csv``: rows of ``path,caption`` (as ``pixseek eval retrieval`` reads them);
- ``tags``: the photos tagged with each tag (``pixseek tag``), when the index has tags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import PixseekError

SOURCES = ("folders", "labels", "captions", "duplicates", "tags")
NEEDS_FILE = ("labels", "captions")


@dataclass
class LabelSet:
    """Photos (ids, raw vectors) and an integer label each; ``names[label]`` says what it is."""

    ids: np.ndarray
    vectors: np.ndarray
    labels: np.ndarray
    names: list[str]

    def keep_labels_with(self, at_least: int) -> "LabelSet":
        counts = np.bincount(self.labels, minlength=len(self.names))
        keep = counts[self.labels] >= at_least
        kept = sorted(set(self.labels[keep].tolist()))
        remap = {old: new for new, old in enumerate(kept)}
        return LabelSet(self.ids[keep], self.vectors[keep],
                        np.asarray([remap[x] for x in self.labels[keep].tolist()], dtype=np.int64),
                        [self.names[i] for i in kept])


@dataclass
class CaptionSet:
    """Indexed photos (ids, raw vectors) and captions, ``image_of[j]`` the photo row of caption j."""

    ids: np.ndarray
    vectors: np.ndarray
    captions: list[str]
    image_of: np.ndarray


def _from_pairs(lib, pairs: list[tuple[str, str]], what: str) -> LabelSet:
    rows, missing = {}, []
    for path, label in pairs:
        row = lib.catalog.row_by_path(path)
        if row is None or row.status != "ok":
            missing.append(path)
            continue
        rows[row.id] = label  # a photo listed twice keeps its last label
    if missing:
        raise PixseekError(f"{len(missing)} photos in {what} are not indexed, e.g. {missing[0]}: index their "
                           "folders first (`pixseek index FOLDER`)")
    ids = np.asarray(sorted(rows), dtype=np.int64)
    names = sorted(set(rows.values()))
    where = {n: i for i, n in enumerate(names)}
    vectors = lib.catalog.vectors(ids.tolist()) if len(ids) else np.zeros((0, 0), np.float32)
    return LabelSet(ids, vectors, np.asarray([where[rows[i]] for i in ids.tolist()], dtype=np.int64), names)


def read_labels_csv(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Rows of (absolute photo path, label) from a ``path,label`` CSV (a header row is allowed)."""
    from ..evaluation.retrieval import read_captions

    return [(r.path, r.caption) for r in read_captions(path)]


def from_folders(lib) -> LabelSet:
    emb = lib.embeddings()
    folders = emb.folders(lib.catalog.roots())
    names = sorted(set(folders))
    where = {n: i for i, n in enumerate(names)}
    return LabelSet(emb.ids, emb.vectors, np.asarray([where[f] for f in folders], dtype=np.int64), names)


def from_duplicates(lib) -> LabelSet:
    groups = [g for g in lib.duplicates() if g.kind in ("exact", "copy")]
    pairs = [(m.path, f"group {n}") for n, g in enumerate(groups, 1) for m in g.members]
    return _from_pairs(lib, pairs, "the duplicate groups")


def from_tags(lib) -> LabelSet:
    """Photos whose picture carries exactly one tag (examples and applied), labelled by it: a photo
    with several tags belongs to no single group, so it is left out."""
    tags_of = lib.catalog.tags_for()
    if not tags_of:
        raise PixseekError("there are no tags yet: tag a few photos first (`pixseek tag NAME PHOTO...`)")
    pairs = [(row.path, tags_of[row.sha][0]) for row in lib.catalog.ok_rows()
             if row.sha in tags_of and len(tags_of[row.sha]) == 1]
    return _from_pairs(lib, pairs, "the tags")


def label_set(lib, source: str, file: str | None = None) -> LabelSet:
    """The labelled photos of ``source`` (see the module doc)."""
    if source == "folders":
        return from_folders(lib)
    if source == "labels":
        return _from_pairs(lib, read_labels_csv(file), file)  # type: ignore[arg-type]
    if source == "duplicates":
        return from_duplicates(lib)
    if source == "tags":
        return from_tags(lib)
    raise PixseekError(f"unknown label source {source!r}: use one of {', '.join(SOURCES)}")


def caption_set(lib, file: str) -> CaptionSet:
    from ..evaluation.retrieval import read_captions

    rows = read_captions(file)
    labelled = _from_pairs(lib, [(r.path, r.path) for r in rows], file)  # each photo its own label
    where = {labelled.names[label]: i for i, label in enumerate(labelled.labels.tolist())}
    return CaptionSet(labelled.ids, labelled.vectors, [r.caption for r in rows],
                      np.asarray([where[r.path] for r in rows], dtype=np.int64))


def check_csv(file: str | None, source: str) -> None:
    if source in NEEDS_FILE and not file:
        raise PixseekError(f"--from {source} needs a CSV file: --from {source} FILE.csv")
    if source not in NEEDS_FILE and file:
        raise PixseekError(f"--from {source} takes no file (only labels and captions do)")
    if file and not os.path.isfile(file):
        raise PixseekError(f"not found: {file}")

