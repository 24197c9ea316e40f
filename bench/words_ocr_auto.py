"""How `--ocr auto` reads text, against RapidOCR's full pass: same captions, same photos.

24 captions (English and Chinese; DejaVu Sans/Serif, Liberation Mono, Noto Sans CJK; 4.5, 6.5 and
9 % of the photo's shorter side; rotated by -3, 0 or 3 degrees) drawn on scikit-image photos at
1280x853. The full pass is ``read_text(photo, "on")`` (detection at up to 1280 px, direction,
recognition); auto is what the pipeline does: ``detect_small`` on the 720x480 copy it holds for
the vector, then ``recognize`` in those boxes on the sharper photo. Prints how many captions each
reads whole (spaces ignored), the time each took (one thread), the CPU flags and the load.

    python bench/words_ocr_auto.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
from index_throughput import cpu_features  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from pixseek.words import ocr  # noqa: E402

FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
         "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf"]
CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
TEXTS = ["Fresh Bakery", "Harbour Café", "Platform 9 exit", "购物收据", "Library Hours 9-17", "小心地滑",
         "Pizza Napoli", "博物馆门票"]
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "brick", "hubble_deep_field"]


def photo(name: str) -> Image.Image:
    import skimage.data

    arr = getattr(skimage.data, name)()
    arr = np.stack([arr] * 3, axis=-1) if arr.ndim == 2 else arr[..., :3]
    return Image.fromarray(arr.astype(np.uint8)).resize((1280, 853))


def main() -> None:
    full_ok = auto_ok = n = 0
    t_full = t_auto = 0.0
    for i, text in enumerate(TEXTS):
        for frac in (0.045, 0.065, 0.09):
            im = photo(PHOTOS[(i + int(frac * 100)) % len(PHOTOS)])
            cjk = any(ord(c) > 0x3000 for c in text)
            font = ImageFont.truetype(CJK if cjk else FONTS[i % 3], int(853 * frac))
            ImageDraw.Draw(im).text((80, 300), text, font=font, fill=(255, 255, 255) if i % 2 else (0, 0, 0))
            im = im.rotate(3 * ((i % 3) - 1), resample=Image.BICUBIC)
            held = im.resize((720, 480))  # what the pipeline decoded for the vector
            t = time.perf_counter()
            full = " ".join(line.text for line in ocr.read_text(im, "on"))
            t_full += time.perf_counter() - t
            t = time.perf_counter()
            boxes, _ = ocr.detect_small(held)
            auto = " ".join(line.text for line in ocr.recognize(im, boxes * (1280 / 720)))
            t_auto += time.perf_counter() - t
            key = text.replace(" ", "").lower()
            full_ok += key in full.replace(" ", "").lower()
            auto_ok += key in auto.replace(" ", "").lower()
            n += 1
    print(f"CPU flags: {cpu_features()}; load {os.getloadavg()[0]:.1f}")
    print(f"full pass:                          {full_ok}/{n} captions read whole in {t_full:.1f} s")
    print(f"auto (small detection + boxes):     {auto_ok}/{n} captions read whole in {t_auto:.1f} s")
    print(f"time auto / full pass:              {t_auto / t_full:.2f}")


if __name__ == "__main__":
    main()
