"""A labelled set of real drawings: Debian's ``tuxpaint-stamps-default`` (Tux Paint's stamps, about
1,050 drawings in category folders, each with captions in ~100 languages), for the tag and tuning
evaluations (``pixseek eval tags``, ``bench/``) and their tests.

The package installs under ``/usr/share/tuxpaint/stamps/<category>/<sub-category>/...``
(``apt-get install -y tuxpaint-stamps-default``; ``scripts/install-browser.sh`` does it for CI).
Without root, :func:`fetch_drawings` unpacks it into the cache with ``apt-get download``.

A drawing's label is its folder two levels down (``animals/mammals``, ``food/fruit``; a file
directly under a top folder is labelled by that folder alone): the top folders are too mixed to be
one kind of picture (``symbols`` holds letters, coins and chess pieces). Deeper folders (``cartoon``
variants, ``money/euro``) fold into their two-level label.

>>> root = drawings_root()                       # None when the package is absent
>>> drawings = load_drawings(root)               # [Drawing(path, category, captions), ...]
>>> labels = build_gallery(tmp / "gallery", select_categories(drawings, min_count=25))
>>> labels[tmp / "gallery" / "animals--mammals" / "cat.png"]
'animals/mammals'

Stamps are PNGs with transparency (composited on white here, as Tux Paint shows them) or SVGs
(rendered with ``cairosvg`` when it is installed, else left out; an SVG next to a PNG of the same name
is the same stamp and is always left out).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

DEB = "tuxpaint-stamps-default"
SYSTEM_ROOT = Path("/usr/share/tuxpaint/stamps")
ROOT_ENV = "PIXSEEK_DRAWINGS"  # a stamps folder elsewhere (an unpacked package)
MAX_SIDE = 512  # SVGs are rendered this big; PNG stamps are mostly smaller and keep their size


@dataclass(frozen=True)
class Drawing:
    """One stamp: its image file, its label (``animals/mammals``) and its captions by language
    (``{"en": "A frog.", "de": "Ein Frosch.", ...}``; empty when the stamp has no ``.txt``)."""

    path: Path
    category: str
    captions: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    name: str = ""  # the path under the stamps folder, without suffix (animals/mammals/cat)

    @property
    def top(self) -> str:
        """The top folder (``animals``)."""
        return self.category.split("/", 1)[0]


def drawings_root() -> Path | None:
    """The stamps folder: ``$PIXSEEK_DRAWINGS``, the installed package, or a copy that
    :func:`fetch_drawings` unpacked before; ``None`` when none of them is there."""
    candidates = [Path(os.environ[ROOT_ENV])] if os.environ.get(ROOT_ENV, "").strip() else []
    candidates += [SYSTEM_ROOT, _cache_dir() / "usr/share/tuxpaint/stamps"]
    for root in candidates:
        if root.is_dir() and any(root.iterdir()):
            return root
    return None


def fetch_drawings() -> Path:
    """The stamps folder, unpacking the Debian package into the cache (no root needed) when it is not
    installed. Raises :class:`~pixseek.errors.PixseekError` (one line) when apt-get cannot fetch it."""
    root = drawings_root()
    if root is not None:
        return root
    from ..samples import unpack_debian_packages

    return unpack_debian_packages([DEB], _cache_dir()) / "usr/share/tuxpaint/stamps"


def load_drawings(root: Path | str) -> list[Drawing]:
    """Every stamp under ``root`` (sorted by path), with its label and captions."""
    root = Path(root)
    found: list[Drawing] = []
    for path in sorted(root.rglob("*")):
        suffix = path.suffix.lower()
        if suffix not in (".png", ".svg") or not path.is_file():
            continue
        if suffix == ".svg" and path.with_suffix(".png").exists():
            continue  # the same stamp, already drawn as a PNG
        parts = path.relative_to(root).parent.parts
        if not parts:
            continue
        name = path.relative_to(root).with_suffix("").as_posix()
        found.append(Drawing(path, "/".join(parts[:2]), read_captions(path.with_suffix(".txt")), name))
    return found


def read_captions(txt: Path) -> dict[str, str]:
    """A stamp's ``.txt``: the first line is English, then ``lang.utf8=caption`` lines."""
    try:
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    captions: dict[str, str] = {}
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        key, sep, text = line.partition("=")
        if i == 0 and not (sep and key.endswith(".utf8")):
            captions["en"] = line
        elif sep and key.endswith(".utf8") and text.strip():
            captions[key[: -len(".utf8")]] = text.strip()
    return captions


def category_counts(drawings: Iterable[Drawing]) -> Counter[str]:
    """How many drawings each label has."""
    return Counter(d.category for d in drawings)


def select_categories(drawings: Iterable[Drawing], *, min_count: int = 25,
                      renderable_only: bool = True) -> list[Drawing]:
    """The drawings whose label has at least ``min_count`` members (counting only the drawings
    :func:`build_gallery` can make here when ``renderable_only``)."""
    drawings = [d for d in drawings if not renderable_only or can_render(d.path)]
    counts = category_counts(drawings)
    return [d for d in drawings if counts[d.category] >= min_count]


def can_render(path: Path) -> bool:
    """PNGs always; SVGs when ``cairosvg`` (and the cairo library under it) loads."""
    return path.suffix.lower() != ".svg" or _cairosvg() is not None


def build_gallery(dest: Path | str, drawings: Iterable[Drawing], *, flat: bool = False) -> dict[Path, str]:
    """Write the drawings as RGB PNGs under ``dest`` and return ``{file: category}``.

    Files go into one folder per label (``animals--mammals/frog.png``), or all into ``dest`` when
    ``flat`` (names then carry the label: ``animals--mammals--frog.png``), so that a test can hide the
    labels from the folder layout. Made once: files already there are kept. Drawings that cannot be
    rendered here (SVGs without ``cairosvg``) are left out of the result.
    """
    dest = Path(dest)
    labels: dict[Path, str] = {}
    for d in drawings:
        if not can_render(d.path):
            continue
        folder = d.category.replace("/", "--")
        stem = _unique_stem(d)
        out = dest / f"{folder}--{stem}.png" if flat else dest / folder / f"{stem}.png"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                image = _render(d.path)
            except Exception:  # noqa: BLE001 - a stamp that does not render is left out, like an SVG without cairo
                continue
            _write_png(image, out)
        labels[out] = d.category
    return labels


def _unique_stem(d: Drawing) -> str:
    # Deeper folders fold into the label, so their names join the stem (money/euro/1, money/us/1).
    parts = Path(d.name).parts
    return "-".join(parts[len(d.category.split("/")):])


def _render(path: Path):
    from PIL import Image

    if path.suffix.lower() == ".svg":
        import io

        # unsafe: Illustrator SVGs declare XML entities for their namespaces; these files come from a
        # Debian package, not from a user.
        png = _cairosvg().svg2png(url=str(path), output_width=MAX_SIDE, unsafe=True)
        image = Image.open(io.BytesIO(png))
    else:
        image = Image.open(path)
    image.load()
    if image.mode in ("P", "LA", "L") or "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode == "RGBA":  # stamps are drawn over paper: composite on white
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB")


def _write_png(image, out: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_CAIRO: list = []


def _cairosvg():
    if not _CAIRO:
        try:
            import cairosvg  # optional: renders the SVG stamps (needs the cairo library)

            _CAIRO.append(cairosvg)
        except (ImportError, OSError):
            _CAIRO.append(None)
    return _CAIRO[0]


def _cache_dir() -> Path:
    from ..config import HOME_ENV, data_dir

    if os.environ.get(HOME_ENV, "").strip():
        return data_dir() / "drawings"
    import platformdirs

    return Path(platformdirs.user_cache_dir("pixseek", appauthor=False)) / "drawings"
