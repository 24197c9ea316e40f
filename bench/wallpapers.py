"""Assemble a folder of real large photos for the benchmarks from Debian wallpaper packages.

    python bench/wallpapers.py [DEST]     # default: ~/.cache/pixseek-bench/large

Downloads the packages with ``apt-get download`` (no root needed for that; Debian/Ubuntu only),
unpacks them with ``dpkg -x`` into the cache, and gathers every JPEG whose longer side is at least
2560 px, plus the large PNGs re-saved as baseline JPEGs (quality 92), so the folder looks like a
camera roll: ~40 files of 2560-5640 px. Nothing is committed; the cache is reused on the next run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from pixseek.errors import PixseekError  # noqa: E402
from pixseek.samples import unpack_debian_packages  # noqa: E402

PACKAGES = ["plasma-workspace-wallpapers", "mate-backgrounds", "gnome-backgrounds", "ukui-wallpapers"]
MIN_SIDE = 2560
CACHE = Path.home() / ".cache" / "pixseek-bench"


def unpack(cache: Path) -> Path:
    """The packages' files under ``cache/root`` (downloaded and unpacked once)."""
    return unpack_debian_packages(PACKAGES, cache / "root")


def gather(root: Path, dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(root.rglob("*")):
        # the Plasma packages link one picture under many size names: take each file once
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or path.is_symlink() or not path.is_file():
            continue
        with Image.open(path) as im:
            if max(im.size) < MIN_SIDE:
                continue
            name = "_".join(path.relative_to(root).parts[-4:]).replace(" ", "_")
            out = dest / (Path(name).stem + ".jpg")
            if out.exists():
                count += 1
                continue
            if im.format == "JPEG":
                out.write_bytes(path.read_bytes())
            else:
                im.convert("RGB").save(out, quality=92)
            count += 1
    return count


def main() -> None:
    dest = Path(sys.argv[1]).expanduser() if len(sys.argv) > 1 else CACHE / "large"
    try:
        root = unpack(CACHE)
    except PixseekError as exc:
        raise SystemExit(f"bench/wallpapers.py: {exc}") from None
    n = gather(root, dest)
    print(f"{n} photos of >= {MIN_SIDE} px in {dest}")


if __name__ == "__main__":
    main()
