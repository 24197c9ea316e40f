"""A sample gallery of real photos that can be built offline: scikit-image's sample photos, plus the
photos of Debian wallpaper packages when ``apt-get`` can fetch them.

    gallery = build_sample_gallery(on_step=print)   # reuses what an earlier run made
    gallery.folder, gallery.photos, gallery.notes

Nothing is downloaded twice: each source leaves a ``.done`` marker in its sub-folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import HOME_ENV, data_dir
from .errors import PixseekError

# scikit-image's bundled photos (no download): the natural ones, not the synthetic test patterns.
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass",
                  "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket",
                  "text")
# Nature photos, abstract art, and one picture at three sizes (up to 5640x3172) for lookalikes.
WALLPAPER_PACKAGES = ("mate-backgrounds",)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_DONE = ".done"

StepFn = Callable[[str], None]


@dataclass
class SampleGallery:
    folder: Path
    photos: int = 0
    notes: list[str] = field(default_factory=list)  # what could not be added, and why


def sample_gallery_dir() -> Path:
    """``$PIXSEEK_HOME/sample-gallery`` when set, else the user cache folder (~/.cache/pixseek/...)."""
    if os.environ.get(HOME_ENV, "").strip():
        return data_dir() / "sample-gallery"
    import platformdirs

    return Path(platformdirs.user_cache_dir("pixseek", appauthor=False)) / "sample-gallery"


def build_sample_gallery(folder: str | os.PathLike | None = None, *,
                         wallpapers: Sequence[str] = WALLPAPER_PACKAGES,
                         on_step: StepFn | None = None) -> SampleGallery:
    """Make (or reuse) the gallery in ``folder`` and say how many photos it holds."""
    step = on_step or (lambda _msg: None)
    gallery = SampleGallery(Path(folder) if folder else sample_gallery_dir())
    gallery.folder.mkdir(parents=True, exist_ok=True)
    _add_skimage(gallery, step)
    for package in wallpapers:
        _add_wallpapers(gallery, package, step)
    gallery.photos = sum(1 for p in gallery.folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    return gallery


def _add_skimage(gallery: SampleGallery, step: StepFn) -> None:
    dest = gallery.folder / "skimage"
    if (dest / _DONE).exists():
        return
    try:
        import numpy as np
        import skimage.data
        from PIL import Image
    except ImportError:
        gallery.notes.append("scikit-image is not installed: no sample photos from it (pip install scikit-image)")
        return
    step(f"writing scikit-image's sample photos to {dest}")
    dest.mkdir(parents=True, exist_ok=True)
    for name in SKIMAGE_PHOTOS:
        try:
            arr = np.asarray(getattr(skimage.data, name)())
        except Exception as exc:  # a photo missing from this scikit-image version: the others still come
            gallery.notes.append(f"skimage.data.{name}: {type(exc).__name__}")
            continue
        Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr).convert("RGB").save(dest / f"{name}.jpg", quality=92)
    (dest / _DONE).touch()


def _add_wallpapers(gallery: SampleGallery, package: str, step: StepFn) -> None:
    dest = gallery.folder / package
    if (dest / _DONE).exists():
        return
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        gallery.notes.append(f"no apt-get here: the {package} photos were left out")
        return
    step(f"downloading the Debian package {package} (wallpaper photos) with apt-get")
    with tempfile.TemporaryDirectory(prefix="pixseek-sample-") as tmp:
        try:
            root = unpack_debian_packages([package], Path(tmp) / "x", timeout=600)
        except PixseekError as exc:
            gallery.notes.append(f"{exc}: the {package} photos were left out; try `sudo apt-get update`, "
                                 "or run with --no-wallpapers")
            return
        dest.mkdir(parents=True, exist_ok=True)
        for src in sorted(root.rglob("*")):
            if src.suffix.lower() in _IMAGE_SUFFIXES and src.is_file() and not src.is_symlink():
                shutil.copy2(src, dest / f"{src.parent.name}-{src.name}")
    (dest / _DONE).touch()


def unpack_debian_packages(packages: Sequence[str], dest: Path, *, timeout: int = 1800) -> Path:
    """``dest`` holding the files of Debian ``packages`` (``apt-get download``, which needs no root,
    then ``dpkg -x``), made once: a later call with the same packages returns at once.

    Wallpaper packages are where the samples, the labelled dedup set and the benchmarks get real
    photos. Raises :class:`PixseekError` (one line) when apt-get or dpkg is missing or fails; a
    failed call leaves nothing behind that a later one would take for done.
    """
    marker = dest / f".unpacked-{'+'.join(sorted(packages))}"
    if marker.exists():
        return dest
    names = ", ".join(packages)
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        raise PixseekError(f"no apt-get here to fetch the Debian packages {names}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=dest.parent) as tmp:
        try:
            subprocess.run(["apt-get", "download", "-q", *packages], cwd=tmp, check=True, timeout=timeout,
                           capture_output=True, text=True)
            debs = sorted(Path(tmp).glob("*.deb"))
            if len(debs) < len(packages):
                raise RuntimeError("apt-get download left no .deb")
            root = Path(tmp) / "root"
            for deb in debs:
                subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True, timeout=timeout,
                               capture_output=True, text=True)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            lines = (getattr(exc, "stderr", None) or str(exc) or type(exc).__name__).strip().splitlines()
            raise PixseekError(f"could not fetch the Debian packages {names} ({lines[-1][:160] if lines else ''})") \
                from exc
        if dest.exists():  # an older or half-made copy
            shutil.rmtree(dest)
        os.replace(root, dest)
    marker.touch()
    return dest
