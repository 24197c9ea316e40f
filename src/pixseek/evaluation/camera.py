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
import os
import random
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta

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
