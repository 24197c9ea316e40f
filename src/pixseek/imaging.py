"""Safe image decoding: pixel cap, EXIF orientation, mode conversion, JPEG draft, thumbnails.

Everything that can go wrong while decoding a file becomes an :class:`ImageDecodeError` whose
``reason`` is short and stable ("empty file", "truncated", "not an image", "corrupt",
"unreadable", "unsupported format", "out of memory", "too many pixels (...)", and for camera RAW
files "unsupported RAW", "corrupt RAW").

Camera RAW files (CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2) are read with ``rawpy`` (LibRaw): the
embedded JPEG preview when it is large enough for the caller (fast), else a half-size development;
orientation from the RAW's own metadata; capture date, camera and lens from its EXIF (``exifread``).

Pillow's own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is left alone: our explicit
``max_pixels`` cap governs. When Pillow's limit is lower than ours and it refuses to open a file,
we re-open the header once with Pillow's limit lifted under a lock (opening reads the header only,
no pixels are allocated) and apply our cap. ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never changed;
it must stay False (Pillow's default) for truncated files to be detected.

Example::

    decoded = decode_image("photo.jpg", min_side=224)
    decoded.image.size, decoded.width, decoded.height, decoded.taken_at
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Union

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError, features

from pixseek.errors import ImageDecodeError

DEFAULT_MAX_PIXELS = 200_000_000  # pixel cap on the original image size

# Decode at >= 2x the size the caller will resize to (as Image.thumbnail's reducing_gap=2.0):
# drafting JPEGs right down to min_side moved bicubic-resized pixels by up to 2.3/255 (mean)
# from a full decode on skimage photos; at 2x the worst seen was 1.2/255.
_REDUCING_GAP = 2

Source = Union[bytes, bytearray, memoryview, str, os.PathLike]

_BASE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
)

# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

RAW_EXTENSIONS = frozenset({".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2"})
# LibRaw's ``sizes.flip`` -> the transpose that makes the image upright
_RAW_TRANSPOSE = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "PA"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_EXIF_DATE = re.compile(r"(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")

_PILLOW_LIMIT_LOCK = threading.Lock()
_PLUGIN_LOCK = threading.Lock()
_plugin_extensions: frozenset[str] | None = None


@dataclass(frozen=True)
class DecodedImage:
    """A decoded, upright RGB image plus what the catalogue wants to know about the file."""

    image: Image.Image  # RGB, upright (EXIF orientation applied), maybe draft-reduced
    width: int  # original width after orientation (what a viewer shows), full resolution
    height: int
    taken_at: str | None  # EXIF capture date as 'YYYY-MM-DDTHH:MM:SS', else None
    format: str | None  # Pillow format name, e.g. 'JPEG'
    # the upright alpha channel ("L") of a picture with transparency, when asked for (keep_alpha);
    # ``image`` has it flattened on white, which can make different pictures look the same
    alpha: Image.Image | None = None
    camera: str | None = None  # EXIF "Make Model", e.g. "Canon EOS R6"
    lens: str | None = None  # EXIF LensModel
    subsec: float | None = None  # the fraction of a second of ``taken_at`` (EXIF SubSecTimeOriginal)
    sequence: int | None = None  # the camera's frame number in a burst, when it records one
    raw: str | None = None  # for a camera RAW file: "preview" (its embedded JPEG) or "developed"


# ---------------------------------------------------------------------------------------------
# Optional format plugins


def _register_plugins() -> frozenset[str]:
    """Register HEIF/AVIF openers once, if available; return the extra extensions they bring."""
    global _plugin_extensions
    if _plugin_extensions is not None:
        return _plugin_extensions
    with _PLUGIN_LOCK:
        if _plugin_extensions is None:
            _plugin_extensions = _load_plugins()
    return _plugin_extensions


def _load_plugins() -> frozenset[str]:
    extra: set[str] = set()
    heif = None
    try:
        import pillow_heif as heif  # type: ignore[import-not-found,no-redef]

        heif.register_heif_opener()
        extra |= {".heic", ".heif"}
    except Exception:  # not installed, or a broken install: run without it
        heif = None
    if "avif" in features.modules and features.check_module("avif"):
        extra.add(".avif")  # Pillow >= 11.2 decodes AVIF itself
        return frozenset(extra)
    try:
        import pillow_avif  # type: ignore[import-not-found]  # noqa: F401  (registers on import)

        extra.add(".avif")
    except Exception:
        if heif is not None and hasattr(heif, "register_avif_opener"):  # older pillow-heif
            with suppress(Exception):
                heif.register_avif_opener()
                extra.add(".avif")
    return frozenset(extra)


def image_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) that :func:`decode_image` can read here.

    >>> ".jpg" in image_extensions()
    True
    """
    return _BASE_EXTENSIONS | _register_plugins() | _raw_extensions()


def _raw_extensions() -> frozenset[str]:
    try:
        import rawpy  # noqa: F401
    except Exception:  # not installed: RAW files are not crawled
        return frozenset()
    return RAW_EXTENSIONS


# ---------------------------------------------------------------------------------------------
# Public API


def decode_image(
    source: Source,
    *,
    min_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_alpha: bool = False,
    name: str | os.PathLike[str] | None = None,
) -> DecodedImage:
    """Decode a file (path) or its bytes into an upright RGB image.

    ``min_side``: the caller will resize so the shorter side is ``min_side``; the decoder may
    then return a smaller image (JPEG DCT scaling, then a bicubic shrink) whose shorter side is
    at least ``2 * min_side`` (or the full image, if that is smaller). ``width``/``height``
    always describe the full-size upright image. ``keep_alpha``: also return the alpha channel of
    a picture with transparency (``alpha``, the size of ``image``). ``name``: the file's path when
    ``source`` is its bytes (its extension tells a camera RAW file from a TIFF). Raises :class:`ImageDecodeError` for every
    failure, including images over ``max_pixels`` (checked from the header, before any pixel
    is allocated).

    Example::

        d = decode_image("IMG_0001.jpg", min_side=224)
        d.image.mode, d.width, d.height, d.taken_at   # 'RGB', 4032, 3024, '2021-07-04T12:34:56'
    """
    if min_side is not None and min_side < 1:
        raise ValueError(f"min_side must be >= 1, got {min_side}")
    short_side = None if min_side is None else (lambda w, h: min_side)
    return _decode(source, max_pixels=max_pixels, short_side_needed=short_side, keep_alpha=keep_alpha,
                   name=name)


def make_thumbnail(
    source: Source, dest: str | os.PathLike[str], size: int = 384, quality: int = 85
) -> None:
    """Write an upright JPEG thumbnail whose longer side is at most ``size`` (no upscaling).

    The write is atomic (temp file in the destination folder, fsync, ``os.replace``); the
    folder is created if needed. Decode failures raise :class:`ImageDecodeError`; failures to
    write ``dest`` raise ``OSError``.

    Example::

        make_thumbnail("IMG_0001.jpg", "thumbs/0001.jpg", size=256)
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")

    def short_side(w: int, h: int) -> int:
        # The shorter side that keeps the longer one >= size (the decoder adds its 2x gap).
        return max(1, math.ceil(size * min(w, h) / max(w, h)))

    image = _decode(source, max_pixels=DEFAULT_MAX_PIXELS, short_side_needed=short_side).image
    image.thumbnail((size, size), Image.Resampling.BICUBIC)
    _write_jpeg_atomically(image, os.fspath(dest), quality)


def read_capture_date(img: Image.Image) -> str | None:
    """EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime) as 'YYYY-MM-DDTHH:MM:SS'.

    Returns None when there is no usable date (missing, blank, '0000:00:00 ...', unreadable EXIF).

    >>> read_capture_date(Image.new("RGB", (1, 1))) is None
    True
    """
    try:
        exif = img.getexif()
    except Exception:
        return None
    return _capture_date(exif)


# ---------------------------------------------------------------------------------------------
# Decoding pipeline


def _decode(
    source: Source,
    *,
    max_pixels: int,
    short_side_needed: Callable[[int, int], int] | None,
    keep_alpha: bool = False,
    name: str | os.PathLike[str] | None = None,
) -> DecodedImage:
    _register_plugins()
    if name is None and not isinstance(source, (bytes, bytearray, memoryview)):
        name = source
    with _open_stream(source) as fp:
        try:
            if _is_raw(fp, name):
                return _decode_raw(fp, max_pixels, short_side_needed)
            return _decode_stream(fp, max_pixels, short_side_needed, keep_alpha)
        except ImageDecodeError:
            raise
        except Exception as exc:  # MemoryError included: a bad file never escapes raw
            raise _classify(exc, fp) from exc


def _decode_stream(
    fp: BinaryIO, max_pixels: int, short_side_needed: Callable[[int, int], int] | None,
    keep_alpha: bool = False,
) -> DecodedImage:
    img = _open_image(fp)
    width, height = img.size
    _check_size(width, height, max_pixels)
    fmt = img.format
    need = short_side_needed(width, height) if short_side_needed else None
    drafted = None
    if need is not None:
        # JPEG only (a no-op elsewhere): DCT scaling by 1/2, 1/4 or 1/8 keeping both sides
        # >= _REDUCING_GAP * need (the shorter side is the same before and after orientation).
        drafted = img.draft("RGB", (_REDUCING_GAP * need, _REDUCING_GAP * need))
    img.load()
    exif = _safe_exif(img)
    if drafted is not None:
        img = _trim_partial_block(img, drafted[1])
    orientation = _orientation(exif)
    if orientation in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[orientation])
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    alpha = img.convert("RGBA").getchannel("A") if keep_alpha and _has_alpha(img) else None
    img = _to_rgb(img)
    if need is not None:
        img = _shrink(img, need)
        alpha = _shrink(alpha, need) if alpha is not None else None
    camera, lens, subsec = _camera_facts(exif)
    return DecodedImage(img, width, height, _capture_date(exif), fmt, alpha, camera, lens, subsec)


@contextmanager
def _open_stream(source: Source) -> Iterator[BinaryIO]:
    """A readable binary stream over ``source``; empty and unreadable files fail here."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageDecodeError("empty file")
        yield io.BytesIO(source)
        return
    try:
        fp = open(os.fspath(source), "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise ImageDecodeError("unreadable", _os_detail(exc)) from exc
    with fp:
        try:
            empty = os.fstat(fp.fileno()).st_size == 0
        except OSError as exc:
            raise ImageDecodeError("unreadable", _os_detail(exc)) from exc
        if empty:
            raise ImageDecodeError("empty file")
        yield fp


def _open_image(fp: BinaryIO) -> Image.Image:
    """Image.open (header only), with our pixel cap, not Pillow's, deciding what is too big."""
    try:
        return Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        pass  # Pillow's limit, not ours: reopen without it, then _check_size applies ours
    fp.seek(0)
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(fp)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise ImageDecodeError("corrupt", f"image size {width}x{height}")
    pixels = width * height
    if pixels > max_pixels:
        raise ImageDecodeError(
            f"too many pixels ({pixels / 1e6:.1f} megapixels, limit {max_pixels / 1e6:g})",
            f"{width}x{height}",
        )


def _trim_partial_block(img: Image.Image, box: tuple[int, int, float, float]) -> Image.Image:
    """Drop a last row/column that holds less than half a scaled pixel of the picture.

    DCT scaling by 1/s yields ceil(w/s) columns for w/s worth of picture; a resize of the
    whole then stretches the picture slightly. Rounding keeps that error under half a pixel.
    """
    size = (round(box[2]), round(box[3]))
    if size == img.size or min(size) < 1:
        return img
    return img.crop((0, 0, *size))


def _shrink(img: Image.Image, need: int) -> Image.Image:
    """Resize (bicubic) to a shorter side of ``_REDUCING_GAP * need`` if it is 2x bigger still.

    Keeps decoded batches small (a 24 MP PNG would otherwise travel at full size). Integer
    ``Image.reduce`` was measured and rejected: its box filter, with a factor that rarely
    divides the size, moves the result by up to 5/255 (mean) from a full decode.
    """
    w, h = img.size
    short = min(w, h)
    target = _REDUCING_GAP * need
    if short < 2 * target:
        return img
    scale = target / short
    size = (target, max(target, round(h * scale))) if w == short else (
        max(target, round(w * scale)), target)
    return img.resize(size, Image.Resampling.BICUBIC)


# ---------------------------------------------------------------------------------------------
# Mode conversion


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency is flattened on white."""
    if img.mode == "RGB":
        return img
    if img.mode == "I" or img.mode.startswith("I;16"):
        img = _int_to_l(img)
    elif img.mode == "F":
        img = _float_to_l(img)
    if _has_alpha(img):
        return _flatten_on_white(img)
    try:
        return img.convert("RGB")
    except ValueError:
        if img.mode != "LAB":  # older Pillow cannot convert LAB directly
            raise
        from PIL import ImageCms

        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.applyTransform(img, ImageCms.buildTransform(lab, srgb, "LAB", "RGB"))


def _has_alpha(img: Image.Image) -> bool:
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        return True
    return img.mode == "P" and img.palette is not None and img.palette.mode == "RGBA"


def _flatten_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    out.paste(rgba, mask=rgba.getchannel("A"))
    return out


def _int_to_l(img: Image.Image) -> Image.Image:
    """16-bit (or 32-bit int) grey -> 8-bit grey, scaled, never clipped at 255."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        return Image.fromarray((a.astype(np.uint16) >> 8).astype(np.uint8), "L")
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo >= 0 and hi <= 65535:  # "I" from a 16-bit source (the usual case)
        return Image.fromarray((a >> 8).astype(np.uint8), "L")
    return _stretch(a.astype(np.float64), lo, hi)


def _float_to_l(img: Image.Image) -> Image.Image:
    """Float grey -> 8-bit: 0..1 is scaled by 255, 0..255 kept, anything else stretched."""
    a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo >= 0.0 and hi <= 1.0:
        a = a * 255.0
    elif not (lo >= 0.0 and hi <= 255.0):
        return _stretch(a, lo, hi)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def _stretch(a: np.ndarray, lo: float, hi: float) -> Image.Image:
    scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


# ---------------------------------------------------------------------------------------------
# Camera RAW files (rawpy: LibRaw's Python bindings)

_RAW_MAGIC = (b"FUJIFILMCCD-RAW", b"IIRO", b"IIRS", b"MMOR", b"IIU\x00")  # RAF, ORF, RW2


def _is_raw(fp: BinaryIO, name: str | os.PathLike[str] | None) -> bool:
    """A camera RAW file, by its name's extension or, for bare bytes, its magic (DNG: its tag)."""
    if name is not None:
        return os.path.splitext(os.fspath(name))[1].lower() in RAW_EXTENSIONS
    fp.seek(0)
    head = fp.read(16)
    fp.seek(0)
    if head.startswith(_RAW_MAGIC) or head[4:12] == b"ftypcrx ":  # CR3
        return True
    if head[:4] == b"II*\x00" and head[8:10] == b"CR":  # CR2
        return True
    return head[:4] in (b"II*\x00", b"MM\x00*") and _tiff_has_tag(fp, head, 50706)  # DNGVersion


def _tiff_has_tag(fp: BinaryIO, head: bytes, tag: int) -> bool:
    order = "<" if head[:2] == b"II" else ">"
    try:
        fp.seek(struct.unpack(order + "I", head[4:8])[0])
        count = struct.unpack(order + "H", fp.read(2))[0]
        entries = fp.read(12 * min(count, 4096))
        return any(struct.unpack_from(order + "H", entries, 12 * k)[0] == tag for k in range(len(entries) // 12))
    except (struct.error, OSError, ValueError):
        return False
    finally:
        fp.seek(0)


def _decode_raw(fp: BinaryIO, max_pixels: int,
                short_side_needed: Callable[[int, int], int] | None) -> DecodedImage:
    try:
        import rawpy
    except ImportError as exc:
        raise ImageDecodeError("unsupported format", "camera RAW: install rawpy") from exc
    fp.seek(0)
    data = fp.read()
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawFileUnsupportedError as exc:
        raise ImageDecodeError("unsupported RAW", f"{type(exc).__name__}: {exc}"[:300]) from exc
    except rawpy.LibRawError as exc:
        raise ImageDecodeError("corrupt RAW", f"{type(exc).__name__}: {exc}"[:300]) from exc
    try:
        with raw:
            flip = raw.sizes.flip
            width, height = raw.sizes.width, raw.sizes.height
            if flip in (5, 6):
                width, height = height, width
            _check_size(width, height, max_pixels)
            need = short_side_needed(width, height) if short_side_needed else None
            img, how = _raw_preview(raw, need, (width, height), flip), "preview"
            if img is None:
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)  # applies flip
                img, how = Image.fromarray(rgb, "RGB"), "developed"
            lens = raw.lens.model or None
            stamp, sequence = raw.other.timestamp, raw.other.shot_order or None
    except ImageDecodeError:
        raise
    except rawpy.LibRawError as exc:
        raise ImageDecodeError("corrupt RAW", f"{type(exc).__name__}: {exc}"[:300]) from exc
    if need is not None:
        img = _shrink(img, need)
    taken_at, camera, exif_lens, subsec = _raw_exif(data)
    if taken_at is None and stamp is not None and stamp.year > 1970:
        taken_at = stamp.replace(microsecond=0).isoformat()
    return DecodedImage(img, width, height, taken_at, "RAW", None, camera, exif_lens or lens, subsec,
                        sequence, how)


def _raw_preview(raw, need: int | None, upright: tuple[int, int], flip: int) -> Image.Image | None:
    """The embedded preview, upright, when its shorter side is enough for the caller (twice
    ``need``; for a full decode, at least the half-size development's); else None."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    except rawpy.LibRawError:
        return None  # a broken preview: develop the RAW instead
    if thumb.format == rawpy.ThumbFormat.JPEG:
        img = Image.open(io.BytesIO(thumb.data))
    else:
        img = Image.fromarray(thumb.data)
    enough = _REDUCING_GAP * need if need is not None else min(upright) // 2
    if min(img.size) < min(enough, min(upright)):
        return None
    if need is not None:
        drafted = img.draft("RGB", (enough, enough))
        img.load()
        if drafted is not None:
            img = _trim_partial_block(img, drafted[1])
    img = _to_rgb(img)
    # LibRaw's flip is relative to the sensor; a preview already upright (its aspect matches) stays
    sensor_aspect = upright[::-1] if flip in (5, 6) else upright
    if flip in _RAW_TRANSPOSE and (img.width >= img.height) == (sensor_aspect[0] >= sensor_aspect[1]):
        img = img.transpose(_RAW_TRANSPOSE[flip])
    return img


def _raw_exif(data: bytes) -> tuple[str | None, str | None, str | None, float | None]:
    """(capture date, camera, lens, sub-second) from a RAW file's EXIF, read with exifread."""
    try:
        import exifread

        tags = exifread.process_file(io.BytesIO(data), details=False)
    except Exception:  # missing or unreadable EXIF must not reject a good RAW
        return None, None, None, None

    def tag(*names: str) -> str | None:
        for n in names:
            for ifd in ("EXIF", "Image"):
                value = tags.get(f"{ifd} {n}")
                if value is not None and str(value).strip():
                    return str(value).strip()
        return None

    taken = _parse_exif_date(tag("DateTimeOriginal", "DateTimeDigitized", "DateTime"))
    camera = _camera_name(tag("Make"), tag("Model"))
    return taken, camera, tag("LensModel"), _subsec(tag("SubSecTimeOriginal", "SubSecTime"))


# ---------------------------------------------------------------------------------------------
# EXIF


def _safe_exif(img: Image.Image) -> Image.Exif:
    try:
        return img.getexif()
    except Exception:  # broken EXIF must not reject a good image
        return Image.Exif()


def _orientation(exif: Image.Exif) -> int:
    try:
        return int(exif.get(ExifTags.Base.Orientation, 1))
    except (TypeError, ValueError):
        return 1


def _camera_facts(exif: Image.Exif) -> tuple[str | None, str | None, float | None]:
    """(camera "Make Model", lens, sub-second of the capture time) from EXIF; None when absent."""
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:
        sub = {}
    lens = sub.get(ExifTags.Base.LensModel) or exif.get(ExifTags.Base.LensModel)
    subsec = sub.get(ExifTags.Base.SubsecTimeOriginal) or exif.get(ExifTags.Base.SubsecTimeOriginal)
    camera = _camera_name(exif.get(ExifTags.Base.Make), exif.get(ExifTags.Base.Model))
    return camera, _text(lens), _subsec(subsec)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00 \t")
    return value or None


def _camera_name(make: object, model: object) -> str | None:
    """"Make Model", without the make repeated ("Canon" + "Canon EOS R6" -> "Canon EOS R6")."""
    make_s, model_s = _text(make), _text(model)
    if make_s and model_s and model_s.lower().startswith(make_s.lower()):
        return model_s
    return " ".join(p for p in (make_s, model_s) if p) or None


def _subsec(value: object) -> float | None:
    text = _text(value)
    if not text or not text.isdigit():
        return None
    return int(text) / 10 ** len(text)


def _capture_date(exif: Image.Exif) -> str | None:
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:
        sub = {}
    candidates = (
        sub.get(ExifTags.Base.DateTimeOriginal),
        exif.get(ExifTags.Base.DateTimeOriginal),  # misplaced in IFD0 by some writers
        sub.get(ExifTags.Base.DateTimeDigitized),
        exif.get(ExifTags.Base.DateTime),
    )
    for value in candidates:
        iso = _parse_exif_date(value)
        if iso:
            return iso
    return None


def _parse_exif_date(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATE.match(value.strip("\x00 \t"))
    if not match:
        return None
    try:
        return datetime(*map(int, match.groups())).isoformat()
    except ValueError:  # '0000:00:00 00:00:00' and other impossible dates
        return None


# ---------------------------------------------------------------------------------------------
# Error classification


def _classify(exc: Exception, fp: BinaryIO) -> ImageDecodeError:
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, MemoryError):
        return ImageDecodeError("out of memory", detail)
    if isinstance(exc, Image.DecompressionBombError):
        return ImageDecodeError("too many pixels", detail)
    if isinstance(exc, OSError) and exc.errno is not None:  # a real I/O error, not Pillow's
        return ImageDecodeError("unreadable", _os_detail(exc))
    head, tail, length = _head_tail(fp)
    kind = _signature(head)
    if isinstance(exc, UnidentifiedImageError):
        if kind is None:
            return ImageDecodeError("not an image")
        if not _format_registered(kind):
            return ImageDecodeError("unsupported format", f"{kind}: install pillow-heif")
    message = str(exc).lower()
    if isinstance(exc, EOFError) or "truncated" in message or _cut_short(kind, head, tail, length):
        return ImageDecodeError("truncated", detail)
    return ImageDecodeError("corrupt", detail)


def _head_tail(fp: BinaryIO) -> tuple[bytes, bytes, int]:
    try:
        fp.seek(0)
        head = fp.read(32)
        length = fp.seek(0, os.SEEK_END)
        fp.seek(max(0, length - 32))
        return head, fp.read(32), length
    except (OSError, ValueError):
        return b"", b"", 0


def _signature(head: bytes) -> str | None:
    """The image container named by the file's magic bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _HEIF_BRANDS:
            return "heif"
    return None


def _format_registered(kind: str) -> bool:
    if kind == "avif":
        return "AVIF" in Image.ID
    if kind == "heif":
        return "HEIF" in Image.ID
    return True


def _cut_short(kind: str | None, head: bytes, tail: bytes, length: int) -> bool:
    """True when a container's end marker (or declared length) says the file was cut off."""
    end = tail.rstrip(b"\x00")
    if kind == "jpeg":
        return not end.endswith(b"\xff\xd9")
    if kind == "png":
        return b"IEND" not in tail
    if kind == "gif":
        return not end.endswith(b";")
    if kind == "webp" and len(head) >= 8:
        return length < struct.unpack("<I", head[4:8])[0] + 8
    return False


def _os_detail(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Output


def _write_jpeg_atomically(image: Image.Image, dest: str, quality: int) -> None:
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(dest) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, "JPEG", quality=quality)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
