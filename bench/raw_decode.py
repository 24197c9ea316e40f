"""RAW decoding: the embedded preview against a half-size development of the same DNG (its baseline,
measured in the same run), at the size indexing decodes for a 224 px model.

    python bench/raw_decode.py [--side 3000] [--repeats 5]

Prints CPU-seconds per decode of each path and their ratio, with the CPU's SIMD flags and the load.
The DNGs are written with pidng from a real photo (scikit-image's astronaut, tiled up to --side),
one with a full-size JPEG preview, one without.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_throughput import cpu_features, cpu_seconds  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=3000, help="the DNGs' longer side in pixels (default 3000)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import skimage.data
    from PIL import Image

    from pixseek.evaluation.camera import write_dng
    from pixseek.imaging import decode_image

    photo = Image.fromarray(skimage.data.astronaut()).resize((args.side, args.side * 2 // 3), Image.Resampling.BICUBIC)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"preview": Path(tmp) / "preview.dng", "developed": Path(tmp) / "bare.dng"}
        write_dng(np.asarray(photo), paths["preview"], preview=True)
        write_dng(np.asarray(photo), paths["developed"])
        per: dict[str, float] = {}
        for how, path in paths.items():
            data = path.read_bytes()
            assert decode_image(data, min_side=224, name=path).raw == how
            best = float("inf")
            for _ in range(args.repeats):
                start = cpu_seconds()
                decode_image(data, min_side=224, name=path)
                best = min(best, cpu_seconds() - start)
            per[how] = best
    print(f"CPU flags: {cpu_features()}; load {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"DNG {photo.width}x{photo.height}, decoded for a 224 px model (best of {args.repeats}, CPU-seconds)")
    for how, s in per.items():
        print(f"  {how:10s} {1000 * s:8.1f} CPU-ms")
    print(f"embedded preview vs half-size development: {per['developed'] / per['preview']:.1f}x less CPU")


if __name__ == "__main__":
    main()
