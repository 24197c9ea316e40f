"""Tests for pixseek.imaging: safe decode, orientation, modes, draft, errors, thumbnails."""

from __future__ import annotations

import io
import os
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, features

from pixseek.errors import ImageDecodeError
from pixseek.imaging import (
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    decode_image,
    image_extensions,
    make_thumbnail,
    read_capture_date,
)

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
WHITE = (255, 255, 255)


def quadrants(width: int = 400, height: int = 200) -> np.ndarray:
    """A non-symmetric RGB array: red TL, green TR, blue BL, yellow BR."""
    a = np.zeros((height, width, 3), np.uint8)
    h2, w2 = height // 2, width // 2
    a[:h2, :w2], a[:h2, w2:], a[h2:, :w2], a[h2:, w2:] = RED, GREEN, BLUE, YELLOW
    return a


def save(img: Image.Image, path: Path, fmt: str | None = None, **kw) -> Path:
    img.save(path, fmt, **kw)
    return path


def exif_with(orientation: int | None = None, original: str | None = None, dt: str | None = None):
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if dt is not None:
        exif[0x0132] = dt  # DateTime, IFD0
    if original is not None:
        exif.get_ifd(0x8769)[0x9003] = original  # DateTimeOriginal, Exif IFD
    return exif


def corner_colours(img: Image.Image) -> list[tuple[int, int, int]]:
    """Colours sampled a quarter in from each corner: TL, TR, BL, BR."""
    w, h = img.size
    pts = [(w // 4, h // 4), (3 * w // 4, h // 4), (w // 4, 3 * h // 4), (3 * w // 4, 3 * h // 4)]
    return [img.getpixel(p) for p in pts]


def assert_close(got, want, tol: int = 12) -> None:
    assert all(abs(int(g) - int(w)) <= tol for g, w in zip(got, want)), (got, want)


def reason_of(exc_info: pytest.ExceptionInfo[ImageDecodeError]) -> str:
    return exc_info.value.reason


# --- orientation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "corners"),
    [
        (6, [BLUE, RED, YELLOW, GREEN]),  # stored image turned 90 degrees clockwise
        (8, [GREEN, YELLOW, RED, BLUE]),  # stored image turned 90 degrees anticlockwise
        (3, [YELLOW, BLUE, GREEN, RED]),
    ],
)
@pytest.mark.parametrize("min_side", [None, 50])
def test_exif_orientation_gives_upright_image_and_size(tmp_path, orientation, corners, min_side):
    path = save(Image.fromarray(quadrants()), tmp_path / "o.jpg", quality=95,
                exif=exif_with(orientation))
    d = decode_image(path, min_side=min_side)
    assert isinstance(d, DecodedImage)
    assert d.format == "JPEG" and d.image.mode == "RGB"
    want_w, want_h = (400, 200) if orientation == 3 else (200, 400)
    assert (d.width, d.height) == (want_w, want_h)  # full resolution, as a viewer shows it
    iw, ih = d.image.size
    assert (iw > ih) == (want_w > want_h)
    if min_side is None:
        assert (iw, ih) == (want_w, want_h)
    else:
        assert min(iw, ih) >= min_side and (iw, ih) != (want_w, want_h)  # drafted
    for got, want in zip(corner_colours(d.image), corners):
        assert_close(got, want)


# --- modes ------------------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    img = Image.new("CMYK", (64, 32), (0, 255, 255, 0))  # red
    img.paste((255, 255, 0, 0), (32, 0, 64, 32))  # blue
    d = decode_image(save(img, tmp_path / "cmyk.jpg", quality=95))
    assert d.image.mode == "RGB"
    assert_close(d.image.getpixel((8, 16)), RED)
    assert_close(d.image.getpixel((56, 16)), BLUE)


def test_16bit_png_gradient_spans_full_range(tmp_path):
    ramp = np.linspace(0, 65535, 512).round().astype(np.uint16)
    img = Image.fromarray(np.tile(ramp, (8, 1)))
    assert img.mode.startswith("I;16")
    path = save(img, tmp_path / "g16.png")
    assert Image.open(path).mode.startswith("I")  # really stored as 16 bit
    a = np.asarray(decode_image(path).image)
    row = a[0, :, 0]
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row.astype(int)) >= 0)
    assert abs(int(row[256]) - 128) <= 1  # scaled, not clipped at 255
    assert np.array_equal(a[..., 0], a[..., 2])


@pytest.mark.parametrize(
    ("mode", "value", "want"),
    [
        ("1", 1, WHITE),
        ("L", 77, (77, 77, 77)),
        ("LA", (77, 0), WHITE),  # fully transparent -> white
        ("LA", (77, 255), (77, 77, 77)),
        ("I", 32768, (128, 128, 128)),  # 16-bit range held in 32-bit int
        ("I;16", 32768, (128, 128, 128)),
        ("F", 0.5, (128, 128, 128)),  # 0..1 float
        ("CMYK", (0, 0, 0, 255), (0, 0, 0)),
        ("LAB", (255, 128, 128), WHITE),
    ],
)
def test_tiff_modes_become_rgb(tmp_path, mode, value, want):
    path = save(Image.new(mode, (12, 10), value), tmp_path / "m.tif")
    d = decode_image(path)
    assert d.image.mode == "RGB" and d.image.size == (12, 10) == (d.width, d.height)
    assert_close(d.image.getpixel((5, 5)), want, tol=3)


def test_palette_png_transparent_index_is_white(tmp_path):
    img = Image.new("P", (20, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (10, 0, 20, 10))
    d = decode_image(save(img, tmp_path / "p.png", transparency=0))
    assert d.image.getpixel((2, 5)) == WHITE
    assert d.image.getpixel((15, 5)) == RED


def test_rgba_is_flattened_on_white(tmp_path):
    a = np.zeros((10, 30, 4), np.uint8)  # black everywhere
    a[:, 10:20, 3] = 128  # half transparent in the middle
    a[:, 20:, 3] = 255  # opaque on the right
    d = decode_image(save(Image.fromarray(a, "RGBA"), tmp_path / "a.png"))
    assert d.image.mode == "RGB"
    assert d.image.getpixel((5, 5)) == WHITE
    assert_close(d.image.getpixel((15, 5)), (127, 127, 127), tol=1)
    assert d.image.getpixel((25, 5)) == (0, 0, 0)


@pytest.mark.parametrize(("fmt", "ext"), [("GIF", "gif"), ("WEBP", "webp"), ("PNG", "png")])
def test_animated_image_gives_first_frame(tmp_path, fmt, ext):
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, GREEN, BLUE)]
    kw = {"lossless": True} if fmt == "WEBP" else {}
    path = tmp_path / f"anim.{ext}"
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    assert getattr(Image.open(path), "n_frames", 1) == 3
    d = decode_image(path)
    assert d.image.mode == "RGB" and d.format == fmt
    assert_close(d.image.getpixel((8, 8)), RED, tol=2)


# --- pixel cap --------------------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A tiny 1-bit PNG whose IHDR (with a valid CRC) claims width x height."""
    buf = io.BytesIO()
    Image.new("1", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_decompression_bomb_refused_from_header(tmp_path):
    bomb = png_claiming(30000, 30000)  # 900 megapixels, 1 GB once decoded
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    pillow_limit = Image.MAX_IMAGE_PIXELS
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for source in (path, bomb):
        with pytest.raises(ImageDecodeError) as err:
            decode_image(source)
        assert reason_of(err).startswith("too many pixels")
        assert "900.0 megapixels" in reason_of(err)
    assert time.perf_counter() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200_000  # KiB
    assert Image.MAX_IMAGE_PIXELS == pillow_limit  # Pillow's global left as it was


def test_max_pixels_is_ours_to_set(tmp_path, monkeypatch):
    path = save(Image.new("RGB", (100, 100), GREEN), tmp_path / "g.png")
    with pytest.raises(ImageDecodeError) as err:
        decode_image(path, max_pixels=5000)
    assert reason_of(err).startswith("too many pixels")
    # Pillow's own limit, when lower than ours, must not decide.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert decode_image(path).image.size == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000
    assert DEFAULT_MAX_PIXELS == 200_000_000


# --- errors -----------------------------------------------------------------------------------


@pytest.fixture
def jpeg_bytes() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def decode_reason(tmp_path: Path, data: bytes, name: str) -> tuple[str, str]:
    """The reason for both the path and the bytes route (they must agree)."""
    path = tmp_path / name
    path.write_bytes(data)
    reasons = []
    for source in (path, data):
        with pytest.raises(ImageDecodeError) as err:
            decode_image(source)
        reasons.append(reason_of(err))
    return reasons[0], reasons[1]


def test_empty_file(tmp_path):
    assert decode_reason(tmp_path, b"", "e.jpg") == ("empty file", "empty file")


@pytest.mark.parametrize("keep", [0.5, 0.05, 0.0])
def test_truncated_jpeg(tmp_path, jpeg_bytes, keep):
    cut = jpeg_bytes[: max(3, int(len(jpeg_bytes) * keep))]
    assert decode_reason(tmp_path, cut, "t.jpg") == ("truncated", "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    assert decode_reason(tmp_path, data[: len(data) // 2], "t.png") == ("truncated", "truncated")


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    text = b"hello, this is not a picture\n" * 20
    assert decode_reason(tmp_path, text, "notes.jpg") == ("not an image", "not an image")


def test_random_bytes_are_not_an_image(tmp_path):
    noise = np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert decode_reason(tmp_path, noise, "noise.png") == ("not an image", "not an image")


def test_broken_header_is_corrupt(tmp_path):
    data = bytearray(png_claiming(8, 8))
    data[20] ^= 0xFF  # IHDR no longer matches its CRC
    assert decode_reason(tmp_path, bytes(data), "c.png") == ("corrupt", "corrupt")


def test_unreadable_paths(tmp_path):
    for path in (tmp_path / "missing.jpg", tmp_path):  # no such file; a directory
        with pytest.raises(ImageDecodeError) as err:
            decode_image(path)
        assert reason_of(err) == "unreadable"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_is_unreadable(tmp_path, jpeg_bytes):
    path = tmp_path / "locked.jpg"
    path.write_bytes(jpeg_bytes)
    path.chmod(0)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(path)
    assert reason_of(err) == "unreadable"


def test_memory_error_becomes_decode_error(tmp_path, jpeg_bytes, monkeypatch):
    def no_memory(self):
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_memory)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(jpeg_bytes)
    assert reason_of(err) == "out of memory"


# --- capture date -----------------------------------------------------------------------------


def test_capture_date_from_exif(tmp_path):
    img = Image.new("RGB", (8, 8))
    exif = exif_with(original="2021:07:04 12:34:56", dt="2022:01:01 00:00:00")
    path = save(img, tmp_path / "d.jpg", exif=exif)
    assert decode_image(path).taken_at == "2021-07-04T12:34:56"
    assert read_capture_date(Image.open(path)) == "2021-07-04T12:34:56"
    only_dt = save(img, tmp_path / "dt.jpg", exif=exif_with(dt="2019:12:31 23:59:58"))
    assert decode_image(only_dt).taken_at == "2019-12-31T23:59:58"
    blank = save(img, tmp_path / "z.jpg", exif=exif_with(original="0000:00:00 00:00:00"))
    assert decode_image(blank).taken_at is None
    assert decode_image(save(img, tmp_path / "n.png")).taken_at is None


# --- thumbnails -------------------------------------------------------------------------------


def test_thumbnail_is_upright_small_and_atomic(tmp_path):
    src = save(Image.fromarray(quadrants(800, 400)), tmp_path / "big.jpg", quality=95,
               exif=exif_with(6))
    dest = tmp_path / "thumbs" / "big.jpg"
    make_thumbnail(src, dest, size=100)
    thumb = Image.open(dest)
    assert thumb.format == "JPEG" and thumb.size == (50, 100)
    for got, want in zip(corner_colours(thumb.convert("RGB")), [BLUE, RED, YELLOW, GREEN]):
        assert_close(got, want, tol=20)
    assert os.listdir(dest.parent) == ["big.jpg"]  # no temp file left behind

    small = save(Image.new("RGB", (40, 30), RED), tmp_path / "small.png")
    make_thumbnail(small, dest, size=100)  # replaces the old one, never upscales
    assert Image.open(dest).size == (40, 30)


def test_thumbnail_of_bad_file_writes_nothing(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture")
    with pytest.raises(ImageDecodeError):
        make_thumbnail(bad, tmp_path / "out" / "bad.jpg")
    assert not (tmp_path / "out" / "bad.jpg").exists()


# --- draft / reduce accuracy ------------------------------------------------------------------


def model_view(img: Image.Image, side: int) -> np.ndarray:
    """What the encoder's preprocessing does: bicubic, shorter side to ``side``, centre crop."""
    w, h = img.size
    s = side / min(w, h)
    w, h = (side, round(h * s)) if w <= h else (round(w * s), side)
    small = img.resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - side) // 2, (h - side) // 2
    return np.asarray(small.crop((left, top, left + side, top + side)), dtype=np.float64)


@pytest.fixture(scope="module")
def photos():
    data = pytest.importorskip("skimage.data")
    return {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
@pytest.mark.parametrize(("fmt", "min_side"), [("JPEG", 32), ("JPEG", 48), ("PNG", 48)])
def test_draft_decode_stays_close_to_full_decode(tmp_path, photos, name, fmt, min_side):
    path = save(Image.fromarray(photos[name]), tmp_path / f"{name}.{fmt.lower()}", fmt,
                **({"quality": 95} if fmt == "JPEG" else {}))
    full = decode_image(path)
    fast = decode_image(path, min_side=min_side)
    assert (fast.width, fast.height) == (full.width, full.height) == full.image.size
    assert min(fast.image.size) >= 2 * min_side
    assert min(fast.image.size) <= min(full.image.size) // 2 + 1  # really reduced
    diff = np.abs(model_view(fast.image, min_side) - model_view(full.image, min_side))
    assert diff.mean() < 2.0, diff.mean()  # in 0..255 units


# --- sources and extensions -------------------------------------------------------------------


def test_bytes_and_path_decode_the_same(tmp_path, jpeg_bytes):
    img = Image.open(io.BytesIO(jpeg_bytes))
    path = save(img, tmp_path / "x.jpg", quality=90, exif=exif_with(8, "2020:02:02 02:02:02"))
    for min_side in (None, 30):
        a, b = decode_image(path, min_side=min_side), decode_image(path.read_bytes(),
                                                                    min_side=min_side)
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert (a.width, a.height, a.taken_at, a.format) == (b.width, b.height, b.taken_at,
                                                             b.format)
    assert decode_image(str(path)).image.size == (120, 160)


def test_image_extensions():
    exts = image_extensions()
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} <= exts
    assert all(e.startswith(".") and e == e.lower() for e in exts)
    if "avif" in features.modules and features.check_module("avif"):
        assert ".avif" in exts


def test_keep_alpha_returns_the_upright_transparency(tmp_path):
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[..., 3] = np.arange(40, dtype=np.uint8)[None, :] * 6  # alpha grows left to right
    img = Image.fromarray(rgba, "RGBA")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    img.save(tmp_path / "a.png", exif=exif)
    d = decode_image(tmp_path / "a.png", keep_alpha=True)
    assert d.image.mode == "RGB" and d.alpha is not None and d.alpha.mode == "L"
    assert d.alpha.size == d.image.size == (20, 40)
    a = np.asarray(d.alpha)
    assert a[0, 0] < a[-1, 0]  # left-to-right became top-to-bottom
    assert decode_image(tmp_path / "a.png").alpha is None  # only when asked
    Image.new("RGB", (8, 8)).save(tmp_path / "b.png")
    assert decode_image(tmp_path / "b.png", keep_alpha=True).alpha is None
