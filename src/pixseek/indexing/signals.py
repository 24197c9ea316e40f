"""Per-photo signals: what indexing takes from each photo it decodes, registered in one list.

A signal is one extractor with a ``name`` and a ``version``. The pipeline runs ``extract`` in the
decode workers, on the image it has already decoded (no second read or decode), and ``write`` in
the same catalogue transaction as the photo's row, recording ``(content hash, name, version)``.
Signal values belong to a content (``sha``), so a copy or a rename costs nothing.

- A new signal, or a new ``version`` of one, is filled in for photos indexed before it by the next
  ``index`` run: those photos are decoded again and only the missing signals run; their vectors are
  never re-encoded. ``pixseek status`` shows each signal's coverage.
- The vector is a signal too (:class:`VectorSignal`), with two differences: its value is encoded in
  batches on the main thread (``finish``), and it is keyed by file id and mirrored in the vector
  store. Its version is the encoder id recorded in the catalogue (another model means ``--reindex``).
- A signal that needs the full-resolution pixels (``eager = False``, the pixel hash) is registered
  for its name, version and coverage, and computed on demand by whoever needs it (dedup).

Adding a signal::

    class Words(Signal):
        name, version = "words", "1"
        def extract(self, photo): return ocr(photo.image)
        def write(self, catalog, db, sha, value): catalog.set_words(db, sha, value)

    register(Words())
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image

from ..hashing import PIXEL_HASH_VERSION, ImageHashes, perceptual_hashes
from ..imaging import DecodedImage, decode_image
from ..types import SignalCoverage
from ..words.metadata import CONTENT_KINDS, MetaWords, embedded_words
from ..words.ocr import AUTO_DETECT_SIDE, OCR_SIDE, TextLine, detect_small, read_text, recognize
from ..words.store import NewWord, put_content_words, set_problem

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..encoders.base import Encoder


@dataclass(frozen=True)
class Photo:
    """One photo as the decode worker holds it: its path, content hash and decoded image."""

    path: str
    sha: str
    decoded: DecodedImage
    data: bytes = b""  # the file's bytes, read once (for metadata signals)

    @property
    def image(self) -> Image.Image:
        """Upright RGB, maybe draft-reduced down to the largest ``min_side`` of the signals run."""
        return self.decoded.image


class Signal(ABC):
    """One per-photo extractor. Subclasses set ``name`` and ``version`` (bump it when ``extract``
    changes what it returns: the next ``index`` run fills the new version in)."""

    name: ClassVar[str]
    version: ClassVar[str]
    eager: ClassVar[bool] = True  # run by indexing; False: computed on demand elsewhere
    min_side: int = 0  # the shorter side ``extract`` needs; JPEG drafting never goes below it

    @abstractmethod
    def extract(self, photo: Photo) -> Any:
        """The value for one photo (runs in a decode worker; must be thread-safe). An exception
        records the signal as done with no value: the same bytes would fail the same way."""

    @abstractmethod
    def write(self, catalog: Catalog, db: sqlite3.Connection, sha: str, value: Any) -> None:
        """Store ``value`` for the content ``sha`` inside the open transaction ``db``."""

    def __repr__(self) -> str:
        return f"<signal {self.name} v{self.version}>"


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    taken_at: str | None
    format: str | None


class FactsSignal(Signal):
    """Full-resolution size (after EXIF orientation), EXIF capture date and file format: what the
    search filters (``--min-size``, ``--since``, ``--orientation``) read from the catalogue."""

    name, version = "facts", "1"

    def extract(self, photo: Photo) -> ImageFacts:
        d = photo.decoded
        return ImageFacts(d.width, d.height, d.taken_at, d.format)

    def write(self, catalog: Catalog, db: sqlite3.Connection, sha: str, value: ImageFacts | None) -> None:
        if value is not None:
            catalog.set_facts(db, sha, value.width, value.height, value.taken_at, value.format)


class PerceptualSignal(Signal):
    """pHash, dHash and two tiny thumbnails (grey 32x32, colour 8x8), for duplicate finding."""

    name, version = "perceptual", "1"
    min_side = 64

    def extract(self, photo: Photo) -> ImageHashes:
        return perceptual_hashes(photo.image)

    def write(self, catalog: Catalog, db: sqlite3.Connection, sha: str, value: ImageHashes | None) -> None:
        if value is not None:
            catalog.set_hashes(db, sha, value)


class PixelHashSignal(Signal):
    """A hash of the fully decoded pixels ("same picture, other file"). It needs a full-resolution
    decode, which indexing avoids, so dedup computes it for candidate pairs only
    (``hashing.pixel_hash``; stored by ``Catalog.set_pixel_hash``)."""

    name, version = "pixels", PIXEL_HASH_VERSION.rstrip(":")
    eager = False

    def extract(self, photo: Photo) -> str:
        raise NotImplementedError("the pixel hash is computed on demand by dedup (hashing.pixel_hash)")

    def write(self, catalog: Catalog, db: sqlite3.Connection, sha: str, value: str | None) -> None:
        if value is not None:
            catalog.set_pixel_hash(db, sha, value)


class VectorSignal(Signal):
    """The photo's vector: ``extract`` preprocesses (in the worker), ``finish`` encodes a batch
    (main thread). Written by the pipeline itself: one row id per vector, mirrored in the store."""

    name = "vector"
    version = ""  # per instance: the encoder id

    def __init__(self, encoder: Encoder, exact_decode: bool = False) -> None:
        self.encoder = encoder
        self.version = encoder.id  # type: ignore[misc]
        self.min_side = 0 if exact_decode else encoder.input_size

    def extract(self, photo: Photo):
        return self.encoder.preprocess(photo.image)

    def finish(self, tensors: Sequence[Any]) -> np.ndarray:
        import torch

        return self.encoder.encode_pixels(torch.stack(list(tensors)))

    def write(self, catalog: Catalog, db: sqlite3.Connection, sha: str, value: Any) -> None:
        raise TypeError("vectors are written with their file row (Catalog.insert), not per content")


class OcrSignal(Signal):
    """Text in the photo (``words.ocr``: RapidOCR, PP-OCRv4, Chinese and English), with boxes and
    confidence. ``mode`` ``auto``: a cheap detection on a small copy first, recognition only where
    it finds text; ``on``: the full pass on every photo. An OCR failure is recorded as a word
    problem with its reason; it never fails the photo."""

    name = "ocr"
    version = "2"  # 2: auto recognises in the small detection's boxes

    def __init__(self, mode: str = "auto") -> None:
        if mode not in ("auto", "on"):
            raise ValueError(f"OCR mode must be auto or on, not {mode!r}")
        self.mode = mode
        self.version = "2" if mode == "auto" else "1-on"  # type: ignore[misc]
        # auto: the cheap detection needs about AUTO_DETECT_SIDE pixels (the decoder gives at least
        # twice min_side); recognition decodes again, sharper, only where it finds text
        self.min_side = AUTO_DETECT_SIDE // 2 if mode == "auto" else OCR_SIDE // 2

    def extract(self, photo: Photo) -> tuple[list[TextLine], str | None]:
        try:
            boxes = None
            if self.mode == "auto":  # detection on a small copy; nothing found, nothing more to do
                boxes, _ = detect_small(photo.image)
                if not len(boxes):
                    return [], None
            image = photo.image
            if min(image.size) < OCR_SIDE and min(photo.decoded.width, photo.decoded.height) > min(image.size) and photo.data:
                # text to read: from a sharper decode of the same bytes
                image = decode_image(photo.data, min_side=OCR_SIDE // 2).image
            scale = photo.decoded.width / image.width if image.width else 1.0
            if boxes is not None:  # auto: recognition in the boxes found, no second detection
                return recognize(image, boxes * (image.width / photo.image.width), scale), None
            return read_text(image, "on", scale), None
        except Exception as exc:  # a broken model file, OpenCV missing, ...: the photo stays indexed
            return [], f"OCR failed: {type(exc).__name__}: {exc}"[:300]

    def write(self, catalog: Catalog, db: sqlite3.Connection, sha: str, value) -> None:
        lines, problem = value if value is not None else ([], "OCR failed")
        put_content_words(db, sha, ("ocr",), [NewWord("ocr", t.text, t.box, t.confidence) for t in lines])
        set_problem(db, f"ocr:{sha}", problem)


class MetadataSignal(Signal):
    """Words about the photo embedded in the file: EXIF camera and lens, XMP and IPTC keywords,
    titles and descriptions (``words.metadata``). Sidecar ``.xmp`` files belong to a path, not to
    the content: ``words.paths`` reads them."""

    name, version = "metadata", "1"

    def extract(self, photo: Photo) -> MetaWords:
        return embedded_words(photo.data) if photo.data else MetaWords()

    def write(self, catalog: Catalog, db: sqlite3.Connection, sha: str, value: MetaWords | None) -> None:
        value = value or MetaWords(problems=["metadata unreadable"])
        put_content_words(db, sha, CONTENT_KINDS, value.words)
        set_problem(db, f"metadata:{sha}", value.problem)


# -- the registry ----------------------------------------------------------------------------------
PERCEPTUAL = PerceptualSignal()
SIGNALS: list[Signal] = [FactsSignal(), PERCEPTUAL, PixelHashSignal(), MetadataSignal(), OcrSignal("auto")]


def register(signal: Signal) -> None:
    """Add ``signal`` (or replace the one of the same name). The next ``index`` run fills it in."""
    SIGNALS[:] = [s for s in SIGNALS if s.name != signal.name] + [signal]


def unregister(name: str) -> None:
    SIGNALS[:] = [s for s in SIGNALS if s.name != name]


def eager_signals(ocr: str = "auto") -> list[Signal]:
    """The content signals indexing runs on every decoded photo; ``ocr`` ``auto``, ``on`` or
    ``off`` chooses the OCR signal's mode (``--ocr``)."""
    out = [s for s in SIGNALS if s.eager]
    if ocr == "off":
        return [s for s in out if s.name != OcrSignal.name]
    if ocr == "on":
        return [OcrSignal("on") if s.name == OcrSignal.name else s for s in out]
    return out


def versions(signals: Sequence[Signal]) -> dict[str, str]:
    return {s.name: s.version for s in signals}


def signal_coverage(catalog: Catalog, ocr: str = "auto") -> list[SignalCoverage]:
    """The vector (version: the encoder id) and every registered signal, with their coverage
    (OCR: in the index's ``ocr`` mode; none when it is ``off``)."""
    eager = {s.name: s for s in eager_signals(ocr)}
    signals = [eager.get(s.name, s) for s in SIGNALS if s.eager is False or s.name in eager]
    counts = catalog.signal_coverage(versions(signals))
    total = next(iter(counts.values()), (0, catalog.count_contents()))[1]
    model = catalog.get_meta("model") or ""
    out = [SignalCoverage(VectorSignal.name, model, total, total)]  # every indexed file has its vector
    out += [SignalCoverage(s.name, s.version, *counts[s.name], on_demand=not s.eager) for s in signals]
    return out
