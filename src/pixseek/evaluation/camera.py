"""Camera files made offline from real photos: DNG RAW files, JPEGs with camera EXIF, bursts.

What a camera card holds, for tests and for ``pixseek eval dedup``: a DNG written with ``pidng``
from a Bayer mosaic of a real photo (linear light, 12 bits, RGGB), with or without an embedded
full-size JPEG preview; the JPEG the camera writes next to it; bursts of frames a fraction of a
second apart, each slightly shifted, cropped, exposed or shaken.

    write_dng(photo, "IMG_0001.DNG", when="2024:05:01 10:00:00", subsec="20", preview=True)
    write_jpeg(photo, "IMG_0001.JPG", when="2024:05:01 10:00:00", subsec="20")
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageEnhance, ImageFilter

MAKE, MODEL = "Pixseek", "TestCam"
# The "camera" sees linear sRGB: its ColorMatrix1 (XYZ -> camera) is XYZ -> linear sRGB (D65)
_XYZ_TO_SRGB = [[round(v * 10000), 10000] for v in (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415,
                                                      0.0557, -0.2040, 1.0570)]


def write_dng(rgb: np.ndarray | Image.Image, path: str | os.PathLike, *, when: str | None = None,
              subsec: str | None = None, make: str = MAKE, model: str = MODEL, lens: str = "Test 50mm",
              orientation: int = 1, preview: bool = False) -> None:
    """A real DNG: the photo's Bayer mosaic (linear light, 12 bits), camera EXIF, and with
    ``preview`` an embedded full-size JPEG preview (as cameras write), in sensor orientation."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation

    rgb = np.asarray(rgb.convert("RGB") if isinstance(rgb, Image.Image) else rgb)
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    rgb = rgb[:h, :w]
    linear = np.round(((rgb / 255.0) ** 2.2) * 4095).astype(np.uint16)
    bayer = np.empty((h, w), np.uint16)
    bayer[0::2, 0::2] = linear[0::2, 0::2, 0]
    bayer[0::2, 1::2] = linear[0::2, 1::2, 1]
    bayer[1::2, 0::2] = linear[1::2, 0::2, 1]
    bayer[1::2, 1::2] = linear[1::2, 1::2, 2]
    t = DNGTags()
    for tag, value in [(Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h),
                       (Tag.Orientation, orientation),
                       (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
                       (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16), (Tag.CFARepeatPatternDim, [2, 2]),
                       (Tag.CFAPattern, CFAPattern.RGGB), (Tag.BlackLevel, 0), (Tag.WhiteLevel, 4095),
                       (Tag.ColorMatrix1, _XYZ_TO_SRGB),
                       (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
                       (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (Tag.BaselineExposure, [[0, 1]]),
                       (Tag.Make, make), (Tag.Model, model), (Tag.UniqueCameraModel, f"{make} {model}"),
                       (Tag.EXIFPhotoLensModel, lens),
                       (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2)]:
        t.set(tag, value)
    if when:
        t.set(Tag.DateTimeOriginal, when)
        t.set(Tag.DateTime, when)
    if subsec:
        t.set(Tag.SubsecTimeOriginal, subsec)
    writer = RAW2DNG()
    writer.options(t, path="", compress=False)
    data = bytes(writer.convert(bayer))
    if preview:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
        data = _with_preview(data, buf.getvalue(), w, h)
    with open(path, "wb") as f:
        f.write(data)


def _with_preview(dng: bytes, jpeg: bytes, w: int, h: int) -> bytes:
    """Chain a second IFD after IFD0 holding a JPEG preview (NewSubfileType 1), as LibRaw reads it."""
    buf = bytearray(dng)
    ifd0 = struct.unpack_from("<I", buf, 4)[0]
    next_ptr = ifd0 + 2 + 12 * struct.unpack_from("<H", buf, ifd0)[0]
    buf += b"\0" * (-len(buf) % 4)
    jpeg_at = len(buf)
    buf += jpeg + b"\0" * (-len(jpeg) % 4)
    ifd_at = len(buf)
    entries = [(254, 4, 1), (256, 4, w), (257, 4, h), (259, 3, 7), (262, 3, 6), (273, 4, jpeg_at), (277, 3, 3),
               (279, 4, len(jpeg))]
    buf += struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        buf += struct.pack("<HHIHH", tag, kind, 1, value, 0) if kind == 3 else struct.pack("<HHII", tag, kind, 1, value)
    buf += struct.pack("<I", 0)
    struct.pack_into("<I", buf, next_ptr, ifd_at)
    return bytes(buf)


def write_jpeg(img: np.ndarray | Image.Image, path: str | os.PathLike, *, when: str | None = None,
               subsec: str | None = None, make: str = MAKE, model: str = MODEL, quality: int = 90) -> None:
    """A JPEG with the EXIF a camera writes: make, model, capture time and its sub-second."""
    img = Image.fromarray(img) if isinstance(img, np.ndarray) else img
    exif = Image.Exif()
    exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = make, model
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if when:
        sub[ExifTags.Base.DateTimeOriginal] = when
    if subsec:
        sub[ExifTags.Base.SubsecTimeOriginal] = subsec
    img.convert("RGB").save(path, "JPEG", quality=quality, exif=exif)


def burst_frames(img: Image.Image, n: int, rng: random.Random, sharp: int = 0) -> list[Image.Image]:
    """``n`` frames of one scene as a burst gives them: each shifted and cropped a little, its
    exposure nudged, and all but frame ``sharp`` shaken (blurred) by a different amount."""
    img = img.convert("RGB")
    w, h = img.size
    frames = []
    for k in range(n):
        dx, dy = rng.randint(0, max(1, w // 40)), rng.randint(0, max(1, h // 40))
        frame = img.crop((dx, dy, w - max(1, w // 40) + dx, h - max(1, h // 40) + dy))
        frame = ImageEnhance.Brightness(frame).enhance(1.0 + rng.uniform(-0.06, 0.06))
        if k != sharp:
            frame = frame.filter(ImageFilter.GaussianBlur(1.2 + 0.6 * k))
        frames.append(frame)
    return frames


def burst_times(start: str, n: int, step_s: float = 0.2) -> list[tuple[str, str]]:
    """(EXIF DateTimeOriginal, SubSecTimeOriginal) for ``n`` frames ``step_s`` apart."""
    t0 = datetime.strptime(start, "%Y:%m:%d %H:%M:%S")
    out = []
    for k in range(n):
        t = t0 + timedelta(seconds=k * step_s)
        out.append((t.strftime("%Y:%m:%d %H:%M:%S"), f"{t.microsecond // 10_000:02d}"))
    return out


def shot_times(start: str, n: int, gap_s: float = 60.0) -> Sequence[str]:
    """Capture times of ``n`` separate shots ``gap_s`` apart (far apart: not a burst)."""
    t0 = datetime.strptime(start, "%Y:%m:%d %H:%M:%S")
    return [(t0 + timedelta(seconds=k * gap_s)).strftime("%Y:%m:%d %H:%M:%S") for k in range(n)]


# -- a camera card for ``pixseek eval dedup`` -----------------------------------------------------------
CARD_TRUTH = "truth.json"  # next to the card's pictures (not an image: never indexed)


@dataclass
class Card:
    """What a card built by :func:`build_card` holds: RAW+JPEG pairs (raw, jpeg) and bursts (every
    file of the burst, and the file(s) of its sharp frame)."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    bursts: list[tuple[list[str], set[str]]] = field(default_factory=list)
    files: int = 0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"pairs": self.pairs, "files": self.files,
                                    "bursts": [(files, sorted(sharp)) for files, sharp in self.bursts]}))

    @classmethod
    def load(cls, path: Path) -> "Card":
        d = json.loads(path.read_text())
        return cls([tuple(p) for p in d["pairs"]], [(files, set(sharp)) for files, sharp in d["bursts"]], d["files"])


def build_card(folder: Path, photos: Sequence[np.ndarray], seed: int = 0, frames: int = 5) -> Card:
    """A camera card from real photos: per photo, in turn, a RAW+JPEG pair in one folder (the DNG with
    or without its preview), a pair across two folders (same time and camera), a burst of JPEGs, and a
    burst of RAW+JPEG pairs; frames 0.2 s apart, shifted, cropped, exposed and shaken a little; a
    lone copy of the first pair's JPEG in a backup folder."""
    rng = random.Random(seed)
    card = Card()
    for sub in ("DCIM", "RAW", "backup"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for k, photo in enumerate(photos):
        when = f"2024:06:01 10:{k:02d}:00"
        kind = k % 4
        if kind in (0, 1):  # a pair; the DNG in the same folder, or in RAW/ with another name
            raw = folder / ("DCIM" if kind == 0 else "RAW") / f"IMG_{k:04d}.DNG"
            jpg = folder / "DCIM" / (f"IMG_{k:04d}.JPG" if kind == 0 else f"IMG_{k:04d}_camera.JPG")
            write_dng(photo, raw, when=when, subsec="00", preview=k % 3 != 2)
            write_jpeg(photo, jpg, when=when, subsec="00")
            card.pairs.append((str(raw), str(jpg)))
        else:  # a burst: JPEGs only, or RAW+JPEG pairs
            sharp = rng.randrange(frames)
            shots = burst_frames(Image.fromarray(photo), frames, rng, sharp=sharp)
            paths, sharp_paths = [], set()
            for n, (frame, (t, sub)) in enumerate(zip(shots, burst_times(when, frames))):
                jpg = folder / "DCIM" / f"BURST{k:02d}_{n}.JPG"
                write_jpeg(frame, jpg, when=t, subsec=sub)
                files = [str(jpg)]
                if kind == 3:
                    raw = jpg.with_suffix(".DNG")
                    write_dng(np.asarray(frame), raw, when=t, subsec=sub, preview=True)
                    card.pairs.append((str(raw), str(jpg)))
                    files.append(str(raw))
                paths += files
                if n == sharp:
                    sharp_paths |= set(files)
            card.bursts.append((paths, sharp_paths))
    if card.pairs:
        shutil.copy2(card.pairs[0][1], folder / "backup" / "copy.JPG")
    card.files = sum(1 for _ in folder.rglob("*") if _.is_file())
    return card


def score_card(card: Card, default: Sequence, similar: Sequence) -> dict:
    """Pairs split (halves in different groups, or one acted on and the other kept), pairs reported
    as duplicates of themselves, bursts grouped whole (one ``--similar`` group, nothing else in it)
    and bursts whose suggested keeper is the sharp frame."""
    out: dict = {"pairs": len(card.pairs), "bursts": len(card.bursts), "files": card.files}
    for name, groups in (("default", default), ("similar", similar)):
        where = {m.path: g for g in groups for m in g.members}
        split = alone = 0
        for raw, jpg in card.pairs:
            ga, gb = where.get(raw), where.get(jpg)
            if ga is not gb:
                split += 1
            elif ga is not None and ((raw in ga.duplicates) != (jpg in ga.duplicates)):
                split += 1
            elif ga is not None and {m.path for m in ga.members} == {raw, jpg}:
                alone += 1
        out[f"pairs_split_{name}"] = split
        out[f"pairs_alone_{name}"] = alone
    where = {m.path: g for g in similar for m in g.members}
    grouped = sharpest = 0
    for paths, sharp in card.bursts:
        gs = {id(where.get(p)) for p in paths}
        g = where.get(paths[0])
        if len(gs) == 1 and g is not None and {m.path for m in g.members} == set(paths):
            grouped += 1
            sharpest += g.keep in sharp
    out["bursts_grouped"], out["bursts_sharpest_kept"] = grouped, sharpest
    return out


def card_lines(res: dict) -> list[str]:
    return [f"== camera card: {res['files']} files, {res['pairs']} RAW+JPEG pairs, {res['bursts']} bursts",
            f"  pairs split: {res['pairs_split_default']} (default), {res['pairs_split_similar']} (--similar); "
            f"pairs reported as duplicates of themselves: {res['pairs_alone_default']}, {res['pairs_alone_similar']}",
            f"  bursts grouped whole by --similar: {res['bursts_grouped']}/{res['bursts']}; "
            f"sharpest frame suggested as keeper: {res['bursts_sharpest_kept']}/{res['bursts']}"]
