"""A labelled duplicate set made from real pictures, for :mod:`pixseek.evaluation.duplicates` (``pixseek eval
dedup``, ``bench/dedup_eval.py``) and the calibration of :mod:`pixseek.dedup`.

Sources: scikit-image's photos and Debian's desktop wallpapers (``mate-backgrounds``,
``gnome-backgrounds``, ``plasma-workspace-wallpapers``; fetched once with ``apt-get download`` into
the cache folder, :func:`cache_dir`, and unpacked with ``dpkg -x``). Every source is shrunk once to at most
1600 px (a phone-sized original) and saved as the *original*; seeded transforms make its copies:

=========== ======= =====================================================================
transform   tier    what it does to the original
=========== ======= =====================================================================
bytes       exact   byte-for-byte copy under another name
pixels      exact   the decoded pixels saved as PNG (same pixels, other bytes)
reencode    copy    JPEG at quality 45-75
format      copy    WebP (lossy, quality 70-85)
resize      copy    shrunk to 25-60 % of each side
crop        copy    2-8 % cut from each side
brightness  copy    brightness x0.7-0.8 or x1.25-1.4
grayscale   copy    grey
watermark   copy    a semi-transparent text mark in a corner
rotation    copy    pixels stored turned by 90 degrees with an EXIF orientation tag that turns them back
=========== ======= =====================================================================

Look-alikes, labelled ``similar`` (the same scene, not the same picture): another shot (the
framing moved by a quarter, turned 2-4 degrees, exposure changed), the stereo camera's second
view, and the wallpapers' light/dark and colour variants of one design. Every other pair is
``none``: a distractor.
"""

from __future__ import annotations

import io
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from ..config import HOME_ENV, data_dir
from ..errors import PixseekError
from ..samples import unpack_debian_packages

DEBS = ["mate-backgrounds", "gnome-backgrounds", "plasma-workspace-wallpapers"]
MAX_SIDE = 1600
MIN_CONTRAST = 10.0  # grey standard deviation below which a source is blank

COPY_TRANSFORMS = ["bytes", "pixels", "reencode", "format", "resize", "crop", "brightness",
                   "grayscale", "watermark", "rotation"]
EXACT_TRANSFORMS = {"bytes", "pixels"}
EDIT_TRANSFORMS = {"crop", "brightness", "grayscale", "watermark", "rotation"}

SKIMAGE = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
           "moon", "camera", "page", "brick", "grass", "gravel", "coins", "clock", "horse", "text", "cell",
           "colorwheel", "logo"]

# Variants of one design shipped as separate wallpapers: (scene, [relative paths]).
VARIANT_SETS = [
    ("mate-stripes", ["backgrounds/mate/desktop/MATE-Stripes-Light.png",
                      "backgrounds/mate/desktop/MATE-Stripes-Dark.png"]),
    ("ubuntu-mate", ["backgrounds/mate/desktop/Ubuntu-Mate-Warm-no-logo.png",
                     "backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png",
                     "backgrounds/mate/desktop/Ubuntu-Mate-Dark-no-logo.png",
                     "backgrounds/mate/desktop/Ubuntu-Mate-Radioactive-no-logo.png"]),
]


@dataclass(frozen=True)
class Item:
    """One file of the set. Same ``picture``: a copy (``exact`` if also same ``pixels``);
    same ``scene`` only: similar; else unrelated."""

    path: str
    picture: str
    scene: str
    transform: str  # "original", one of COPY_TRANSFORMS, or "shot" / "variant"
    pixels: str  # pictures with equal decoded pixels share this


def truth(a: Item, b: Item) -> str:
    if a.picture == b.picture:
        return "exact" if a.pixels == b.pixels else "copy"
    return "similar" if a.scene == b.scene else "none"


# -- sources ----------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``$PIXSEEK_HOME/dedup-eval`` when set, else the user cache folder (~/.cache/pixseek/dedup-eval)."""
    if os.environ.get(HOME_ENV, "").strip():
        return data_dir() / "dedup-eval"
    import platformdirs

    return Path(platformdirs.user_cache_dir("pixseek", appauthor=False)) / "dedup-eval"


def wallpaper_dir(cache: Path | None = None) -> Path:
    """Unpack the wallpaper packages into the cache once (apt-get download + dpkg -x)."""
    try:
        root = unpack_debian_packages(DEBS, (cache or cache_dir()) / "debs")
    except PixseekError as exc:
        raise PixseekError(f"{exc}: the labelled set's wallpapers come from them; try `apt-get update`, "
                           "or use --no-wallpapers (scikit-image's photos alone)") from exc
    return root / "usr" / "share"


def _wallpapers(share: Path) -> list[tuple[str, str, Path]]:
    """(picture, scene, file): one file per design, plus its dark and colour variants."""
    out: list[tuple[str, str, Path]] = []
    in_variants = {p for _, paths in VARIANT_SETS for p in paths}
    for scene, paths in VARIANT_SETS:
        for p in paths:
            out.append((Path(p).stem, scene, share / p))
    for f in sorted((share / "backgrounds" / "mate").rglob("*")):
        rel = str(f.relative_to(share))
        if f.suffix.lower() in (".jpg", ".png") and rel not in in_variants and "_" not in f.stem:
            out.append(("mate-" + f.stem, "mate-" + f.stem, f))
    gnome = share / "backgrounds" / "gnome"
    for light in sorted(gnome.glob("*-l.webp")):
        dark = light.with_name(light.name.replace("-l.webp", "-d.webp"))
        scene = "gnome-" + light.name[:-7]
        out.append((scene + "-l", scene, light))
        if dark.exists():
            out.append((scene + "-d", scene, dark))
    for design in sorted((share / "wallpapers").iterdir()):
        for sub, suffix in (("images", ""), ("images_dark", "-dark")):
            files = sorted((design / "contents" / sub).glob("*.*"), key=lambda p: p.stat().st_size)
            if files:  # the largest rendering only: the others are crops of another aspect ratio
                out.append(("plasma-" + design.name + suffix, "plasma-" + design.name, files[-1]))
    return out


def _skimage() -> list[tuple[str, str, np.ndarray]]:
    try:
        import skimage.data
    except ImportError as exc:
        raise PixseekError("the labelled set is made from scikit-image's sample photos: "
                           "pip install scikit-image") from exc

    out = []
    for name in SKIMAGE:
        arr = getattr(skimage.data, name)()
        out.append((name, name, arr))
    left, right, _ = skimage.data.stereo_motorcycle()
    out.append(("motorcycle-left", "motorcycle", left))
    out.append(("motorcycle-right", "motorcycle", right))
    return out


def _rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        flat = Image.new("RGB", img.size, "white")
        flat.paste(img, mask=img.getchannel("A"))
        return flat
    return img.convert("RGB")


def _shrink(img: Image.Image) -> Image.Image:
    if max(img.size) > MAX_SIDE:
        img = img.copy()
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return img


def load_sources(wallpapers: bool = True, cache: Path | None = None) -> list[tuple[str, str, Image.Image]]:
    """(picture, scene, RGB image) for every source, shrunk to MAX_SIDE; scikit-image's photos
    alone with ``wallpapers=False``."""
    out = []
    for picture, scene, arr in _skimage():
        if arr.dtype == bool:
            arr = arr * 255
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        out.append((picture, scene, _shrink(_rgb(Image.fromarray(arr.astype(np.uint8))))))
    for picture, scene, path in _wallpapers(wallpaper_dir(cache)) if wallpapers else ():
        with Image.open(path) as im:
            im.draft("RGB", (2 * MAX_SIDE, 2 * MAX_SIDE))
            out.append((picture, scene, _shrink(_rgb(im))))
    # Overlays made for a coloured desktop (transparent PNGs) and single-colour tiles come out
    # blank: every two of them really are the same picture, so they would be mislabelled.
    return [s for s in out if np.asarray(s[2].convert("L"), dtype=np.float32).std() >= MIN_CONTRAST]


# -- transforms ---------------------------------------------------------------------------------------
def _jpeg(img: Image.Image, quality: int, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _watermark(img: Image.Image, rng: random.Random) -> Image.Image:
    out = img.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, img.height // 14)
    font = ImageFont.load_default(size=size)
    text = rng.choice(["© pixseek 2024", "SAMPLE", "@photographer", "© Jane Doe"])
    box = draw.textbbox((0, 0), text, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    margin = size // 2
    x = margin if rng.random() < 0.5 else img.width - tw - margin
    y = margin if rng.random() < 0.5 else img.height - th - margin - box[1]
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 150), stroke_width=max(1, size // 12),
              stroke_fill=(0, 0, 0, 150))
    return Image.alpha_composite(out, layer).convert("RGB")


def copy_bytes(transform: str, img: Image.Image, original: bytes, rng: random.Random) -> tuple[bytes, str]:
    """The file bytes and extension of one transformed copy."""
    w, h = img.size
    if transform == "bytes":
        return original, ".jpg"
    if transform == "pixels":
        return _save(Image.open(io.BytesIO(original)).convert("RGB"), "PNG", compress_level=6), ".png"
    if transform == "reencode":
        return _jpeg(img, rng.randint(45, 75)), ".jpg"
    if transform == "format":
        return _save(img, "WEBP", quality=rng.randint(70, 85)), ".webp"
    if transform == "resize":
        s = rng.uniform(0.25, 0.6)
        return _jpeg(img.resize((max(8, round(w * s)), max(8, round(h * s))), Image.Resampling.LANCZOS), 90), ".jpg"
    if transform == "crop":
        l, t, r, b = (rng.uniform(0.02, 0.08) for _ in range(4))
        return _jpeg(img.crop((round(w * l), round(h * t), round(w * (1 - r)), round(h * (1 - b)))), 90), ".jpg"
    if transform == "brightness":
        f = rng.uniform(0.7, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 1.4)
        return _jpeg(ImageEnhance.Brightness(img).enhance(f), 90), ".jpg"
    if transform == "grayscale":
        return _jpeg(img.convert("L"), 90), ".jpg"
    if transform == "watermark":
        return _jpeg(_watermark(img, rng), 90), ".jpg"
    if transform == "rotation":
        exif = Image.Exif()
        turn, tag = rng.choice([(Image.Transpose.ROTATE_90, 6), (Image.Transpose.ROTATE_270, 8)])
        exif[0x0112] = tag  # the viewer turns the stored pixels back upright
        return _jpeg(img.transpose(turn), 90, exif=exif.tobytes()), ".jpg"
    raise ValueError(transform)


def another_shot(img: Image.Image, rng: random.Random) -> Image.Image:
    """The same scene framed differently: shifted by a quarter, turned a little, other exposure."""
    w, h = img.size
    cw, ch = round(w * 0.72), round(h * 0.72)
    dx = round(w * rng.uniform(0.22, 0.28))
    x0 = rng.choice([0, w - cw - dx])
    box = (x0 + dx if x0 == 0 else x0, rng.randint(0, h - ch), 0, 0)
    box = (box[0], box[1], box[0] + cw, box[1] + ch)
    shot = img.rotate(rng.uniform(2, 4) * rng.choice([-1, 1]), Image.Resampling.BICUBIC).crop(box)
    return ImageEnhance.Brightness(shot.resize((w, h), Image.Resampling.LANCZOS)).enhance(rng.uniform(0.85, 1.15))


def build_set(folder: Path, seed: int = 0, sources: list | None = None, wallpapers: bool = True) -> list[Item]:
    """Write the labelled set into ``folder`` (emptied first); return its items. ``sources``:
    (picture, scene, image) triples, default :func:`load_sources` (``wallpapers`` passed on)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    items: list[Item] = []
    for picture, scene, img in sources if sources is not None else load_sources(wallpapers):
        base = folder / picture
        base.mkdir()
        original = _jpeg(img, 92)
        path = base / "original.jpg"
        path.write_bytes(original)
        items.append(Item(str(path), picture, scene, "original", picture))
        if picture == scene or picture.endswith(("-l", "-left")) or "Light" in picture or "Warm" in picture:
            # one member per scene gets the copies and another shot; its variants are look-alikes
            for t in COPY_TRANSFORMS:
                data, ext = copy_bytes(t, img, original, rng)
                path = base / f"{t}{ext}"
                path.write_bytes(data)
                items.append(Item(str(path), picture, scene, t, picture if t in EXACT_TRANSFORMS else path.name))
            if picture == scene:
                path = base / "shot.jpg"
                path.write_bytes(_jpeg(another_shot(img, rng), 90))
                items.append(Item(str(path), picture + "-shot", scene, "shot", str(path)))
    # the originals' pixels are shared by 'bytes' and 'pixels'; everything else is unique
    return items


def scene_of(picture: str) -> str:
    for scene, paths in VARIANT_SETS:
        if picture in {Path(p).stem for p in paths}:
            return scene
    if picture.startswith("gnome-") and picture[-2:] in ("-l", "-d"):
        return picture[:-2]
    if picture.startswith("plasma-") and picture.endswith("-dark"):
        return picture[:-5]
    if picture.startswith("motorcycle-"):
        return "motorcycle"
    return picture


def items_in(folder: Path) -> list[Item]:
    """The items of a set written by ``build_set`` (labels follow from the file names)."""
    items = []
    for base in sorted(p for p in folder.iterdir() if p.is_dir()):
        picture = base.name
        for f in sorted(base.iterdir()):
            t = f.stem
            if t == "shot":
                items.append(Item(str(f), picture + "-shot", scene_of(picture), "shot", str(f)))
            else:
                same = t in ("original", *EXACT_TRANSFORMS)
                items.append(Item(str(f), picture, scene_of(picture), t, picture if same else f.name))
    return items
