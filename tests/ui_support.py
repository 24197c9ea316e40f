"""Starting the real web UI for tests (a library of real photos on a free loopback port), and
driving it in Debian's chromium with Playwright (also used by scripts/screenshot.py)."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np

from PIL import Image

import pixseek


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(photo_dir: Path, workdir: Path, model: str):
    """Yields (url, lib, gallery folder) for an app serving a fresh index of a copy of ``photo_dir``."""
    from pixseek.ui import launch

    gallery = workdir / "gallery"
    shutil.copytree(photo_dir, gallery)
    lib = pixseek.open(workdir / "db", model=model)
    lib.index([gallery])
    app, url = launch(lib, port=free_port(), block=False)
    try:
        yield url.rstrip("/"), lib, gallery
    finally:
        app.close()
        lib.close()


def _dated(path: Path, when: str) -> None:
    stamp = datetime.fromisoformat(when).timestamp()  # local time, as the date filters read it
    os.utime(path, (stamp, stamp))


def query_gallery(photo_dir: Path, dest: Path) -> Path:
    """A folder that gives every query option something to do (no EXIF dates: file dates count):

    - the photos of ``photo_dir``, dated 2019-06-15;
    - ``trip/``: 8 crops of coffee.jpg (July 2021, one a day) and ``tall-rocket.jpg``, the only
      portrait (2021-09-01);
    - ``blanks/``: 40 grey frames of sensor noise (2022): a bulk that looks alike, against which the
      photos stand out (what ``strong`` measures);
    - ``backup/``: two byte-identical copies of chelsea.jpg (2020-05-01): one result, "+2 copies".
    """
    shutil.copytree(photo_dir, dest)
    for photo in dest.iterdir():
        _dated(photo, "2019-06-15 12:00")
    (dest / "trip").mkdir()
    with Image.open(dest / "coffee.jpg") as im:
        w, h = im.size
        for i in range(1, 9):
            crop = im.crop((6 * i, 4 * i, w - 6 * i, h - 4 * i))
            crop.save(dest / "trip" / f"coffee-edit{i}.jpg", quality=90 - 3 * i)
            _dated(dest / "trip" / f"coffee-edit{i}.jpg", f"2021-07-{i:02d} 10:00")
    with Image.open(dest / "rocket.jpg") as im:
        im.rotate(90, expand=True).save(dest / "trip" / "tall-rocket.jpg", quality=90)
    _dated(dest / "trip" / "tall-rocket.jpg", "2021-09-01 10:00")
    (dest / "blanks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        noise = np.full((96, 128, 3), 128) + rng.integers(-20, 20, (96, 128, 3))
        Image.fromarray(noise.astype(np.uint8)).save(dest / "blanks" / f"blank{i:02d}.png")
        _dated(dest / "blanks" / f"blank{i:02d}.png", "2022-01-01 10:00")
    (dest / "backup").mkdir()
    for name in ("chelsea.jpg", "chelsea-copy.jpg"):
        shutil.copyfile(dest / "chelsea.jpg", dest / "backup" / name)
        _dated(dest / "backup" / name, "2020-05-01 10:00")
    return dest


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]

RESULT_IMGS = "[...document.querySelectorAll('#results img')]"
# The gallery's progress tracker must be hidden too: the status line can show the new text a moment
# before the gallery swaps its (already loaded) old images for the new ones.
RESULTS_READY = f"""(expected) => {{
    const status = document.querySelector('#search-status').innerText;
    const imgs = {RESULT_IMGS};
    const idle = [...document.querySelectorAll('#results [data-testid=status-tracker]')]
        .every(t => t.classList.contains('hide'));
    return status.includes(expected) && status.includes(' ms') && !status.includes('⚠') && idle
        && imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}}"""

# A real drag and drop: a File in a DataTransfer, dispatched as dragenter/dragover/drop.
DROP = """([data, name, selector]) => {
    const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, {type: 'image/jpeg'}));
    const target = document.querySelector(selector);
    for (const type of ['dragenter', 'dragover', 'drop'])
        target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
}"""


def timed(page, action, expected: str) -> float:
    """Seconds from the user's action to every result thumbnail on screen."""
    started = time.perf_counter()
    action()
    page.wait_for_function(RESULTS_READY, arg=expected, timeout=60_000)
    return time.perf_counter() - started


def drop_file(page, path: Path, name: str | None = None) -> None:
    """Drop an image file on the page's photo drop zone, as a user dragging it from their desktop."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    page.evaluate(DROP, [data, name or Path(path).name, "#query-photo button.upload-container"])


def save_screenshot(page, dest: Path) -> None:
    """A small PNG (256 colours, 1100 px wide) that fits in the README."""
    raw = dest.with_suffix(".raw.png")
    page.screenshot(path=str(raw), full_page=True)
    with Image.open(raw) as im:
        im = im.convert("RGB")
        im = im.resize((1100, round(im.height * 1100 / im.width)), Image.LANCZOS)
        im.quantize(256, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
    raw.unlink()
