"""``pixseek tune``: learn an adapter from the user's labels, show before/after on a held-out split,
and put the store in the adapted space; ``tune --off``: back to the model's own vectors.

Labels with fewer than ``MIN_PER_LABEL`` photos are left out; with fewer than ``MIN_LABELS`` labels
or ``MIN_PHOTOS`` photos left, tuning is refused. Each label's photos are split (``holdout``, seeded):
the adapter learns from one part and the figures are measured on the other, among held-out photos.
The adapter saved is the one measured.

    >>> report = lib.tune("folders")                 # doctest: +SKIP
    >>> report.before["precision@10"], report.after["precision@10"]   # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import PixseekError
from . import labels as sources
from .adapter import META_ADAPTER, Adapter, remove_unused
from .metrics import caption_figures, label_figures
from .train import DEFAULT_RANK, DEFAULT_STEPS, KEEP_WEIGHT, train_labels, train_pairs

MIN_PER_LABEL = 4
MIN_LABELS = 2
MIN_PHOTOS = 20
MIN_CAPTIONED = 20
DEFAULT_HOLDOUT = 0.3
KEEP_SAMPLE = 5000  # library photos whose similarities the adapter keeps (a seeded sample)


class TooFewLabelsError(PixseekError):
    """Not enough labelled photos to learn from and to measure on."""


@dataclass
class TuneReport:
    """What ``tune`` learnt from and what it measured (``before``: the model's own vectors)."""

    source: str
    labels: int
    photos: int
    train: int
    test: int
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    adapter: str = ""
    rank: int = DEFAULT_RANK
    steps: int = DEFAULT_STEPS
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """For people: what it learnt from, then one line per figure, before -> after."""
        out = [f"tuned on {self.source}: {self.labels} labels, {self.photos} photos ({self.train} to learn from, "
               f"{self.test} held out) in {self.seconds:.1f} s"]
        for key in self.after:
            b, a = self.before.get(key, float("nan")), self.after[key]
            change = f" ({(a - b) / b:+.0%})" if b else ""
            out.append(f"  {key:<13} {b:.3f} -> {a:.3f}{change}")
        return out + [f"note: {n}" for n in self.notes]


def _split(labels: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test): per label, ``holdout`` of its photos (at least one) held out."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_test = 0 if holdout <= 0 else min(len(rows) - 2, max(1, int(round(holdout * len(rows)))))
        test.extend(rows[:n_test].tolist())
        train.extend(rows[n_test:].tolist())
    return np.asarray(sorted(train), dtype=np.int64), np.asarray(sorted(test), dtype=np.int64)


def _too_few(source: str, photos: int, labels: int) -> TooFewLabelsError:
    return TooFewLabelsError(
        f"too few labels to tune from {source}: {photos} photos in {labels} labels with at least "
        f"{MIN_PER_LABEL} photos each; tuning needs {MIN_LABELS} such labels and {MIN_PHOTOS} photos "
        "(label more photos, e.g. sort them into album folders or tag them)")


def tune(lib, source: str, file: str | None = None, *, holdout: float = DEFAULT_HOLDOUT,
         rank: int = DEFAULT_RANK, steps: int = DEFAULT_STEPS, keep_weight: float = KEEP_WEIGHT,
         seed: int = 0) -> TuneReport:
    """Learn an adapter from ``source`` (``labels.SOURCES``), measure it, and tune the index with it."""
    started = time.perf_counter()
    sources.check_csv(file, source)
    if not 0 <= holdout < 1:
        raise PixseekError(f"--holdout must be at least 0 and below 1, not {holdout}")
    if rank < 1 or steps < 1 or keep_weight < 0:
        raise PixseekError("--rank and --steps must be at least 1, --keep-weight at least 0")
    if lib.stores.merged:
        raise PixseekError(f"{lib.db_dir} was merged from shards and only answers queries: tune the shards")
    lib._require_images()
    if source == "captions":
        report, adapter = _tune_captions(lib, file, holdout, rank, steps, seed)  # type: ignore[arg-type]
    else:
        report, adapter = _tune_labels(lib, source, file, holdout, rank, steps, seed, keep_weight)
    report.rank, report.steps = rank, steps
    if report.test and report.after.get("mAP", 0) < report.before.get("mAP", 0):
        report.notes.append("the held-out figures got worse: `pixseek tune --off` goes back to the model's "
                            "own vectors")
    if not report.test:
        report.notes.append("--holdout 0: every label was used to learn, so there is nothing to measure on")
    adapter = Adapter(adapter.a, adapter.b, {"source": source, "model": lib.catalog.get_meta("model"),
                                             "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                             "before": report.before, "after": report.after,
                                             "labels": report.labels, "photos": report.photos})
    with lib.writing():
        adapter.save(lib.db_dir)
        lib.stores.set_space(adapter.file_name)
        remove_unused(lib.db_dir, adapter.file_name)
    report.adapter = adapter.file_name
    report.seconds = round(time.perf_counter() - started, 2)
    return report


def _library_sample(lib, labelled: np.ndarray, seed: int) -> np.ndarray:
    """The raw vectors of up to ``KEEP_SAMPLE`` indexed photos without a label (seeded): the
    similarities the adapter keeps."""
    ids = np.setdiff1d(lib.catalog.ids_with_vectors(), labelled)
    if len(ids) > KEEP_SAMPLE:
        ids = np.sort(np.random.default_rng(seed).choice(ids, KEEP_SAMPLE, replace=False))
    return lib.catalog.vectors(ids.tolist())


def _tune_labels(lib, source, file, holdout, rank, steps, seed, keep_weight) -> tuple[TuneReport, Adapter]:
    found = sources.label_set(lib, source, file)
    data = found.keep_labels_with(MIN_PER_LABEL)
    if len(data.names) < MIN_LABELS or len(data.ids) < MIN_PHOTOS:
        raise _too_few(source, len(data.ids), len(data.names))
    train, test = _split(data.labels, holdout, seed)
    keep = _library_sample(lib, data.ids, seed) if keep_weight > 0 else None
    adapter = train_labels(data.vectors[train], data.labels[train], rank=rank, steps=steps, seed=seed,
                           keep=keep, keep_weight=keep_weight)
    report = TuneReport(source, len(data.names), len(data.ids), len(train), len(test))
    if len(test) > 1:
        report.before = label_figures(data.vectors[test], data.labels[test])
        report.after = label_figures(adapter.apply(data.vectors[test]), data.labels[test])
    left_out = len(found.names) - len(data.names)
    if left_out:
        report.notes.append(f"{left_out} labels with fewer than {MIN_PER_LABEL} photos were left out")
    return report, adapter


def _tune_captions(lib, file: str, holdout, rank, steps, seed) -> tuple[TuneReport, Adapter]:
    if not lib.supports_text:
        raise PixseekError(f"{lib.spec.label} encodes images only: tuning from captions needs a text+image "
                           "model such as ViT-B-32")
    data = sources.caption_set(lib, file)
    if len(data.ids) < MIN_CAPTIONED:
        raise TooFewLabelsError(f"too few captioned photos to tune from captions: {len(data.ids)}; tuning "
                                f"needs {MIN_CAPTIONED}")
    texts = np.concatenate([lib.encoder.encode_texts(data.captions[i:i + 256])
                            for i in range(0, len(data.captions), 256)])
    rng = np.random.default_rng(seed)
    photos = rng.permutation(len(data.ids))
    n_test = int(round(holdout * len(photos)))
    test_photos = np.sort(photos[:n_test])
    is_test = np.isin(data.image_of, test_photos)
    train_photos = np.sort(photos[n_test:])
    remap = np.full(len(data.ids), -1)
    remap[train_photos] = np.arange(len(train_photos))
    adapter = train_pairs(data.vectors[train_photos], texts[~is_test], remap[data.image_of[~is_test]],
                          rank=rank, steps=steps, seed=seed)
    report = TuneReport("captions", len(data.captions), len(data.ids), len(train_photos), len(test_photos))
    if n_test:
        remap_test = np.full(len(data.ids), -1)
        remap_test[test_photos] = np.arange(len(test_photos))
        of = remap_test[data.image_of[is_test]]
        report.before = caption_figures(data.vectors[test_photos], texts[is_test], of)
        report.after = caption_figures(adapter.apply(data.vectors[test_photos]), adapter.apply(texts[is_test]), of)
    return report, adapter


def tune_off(lib) -> bool:
    """Back to the model's own vectors (the store is rebuilt from the catalogue); ``False`` when the
    index was not tuned."""
    if lib.catalog.get_meta(META_ADAPTER) is None:
        return False
    with lib.writing():
        lib.stores.set_space(None)
        remove_unused(lib.db_dir, None)
    return True


def tuned_with(lib) -> dict | None:
    """What the index is tuned with (the adapter's file and where it came from), or ``None``."""
    name = lib.catalog.get_meta(META_ADAPTER)
    if name is None:
        return None
    adapter = lib.stores.adapter
    return {"adapter": name, "rank": adapter.rank, **adapter.info}
