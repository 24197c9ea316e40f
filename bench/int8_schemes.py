"""int8 quantisation schemes against fp32: accuracy (cosine, top-10 overlap) and speed, per CPU.

    python bench/int8_schemes.py FOLDER [--model ViT-B-32 --pretrained random] [--limit 54]
    python bench/int8_schemes.py FOLDER --model timm:tf_efficientnet_lite0 --pretrained wheel
    # the same graphs and pixels on an emulated AVX2 CPU without VNNI (slow: a few photos):
    python bench/int8_schemes.py FOLDER --limit 8 --save /tmp/q
    qemu-x86_64 -cpu Haswell .venv/bin/python bench/int8_schemes.py --load /tmp/q --limit 2 --schemes u8s8,u8s8-7bit

Exports the model's image tower once (fp32), quantises it with each scheme of
``encoders.onnx.INT8_SCHEMES`` (dynamic int8; ``u8s8`` = 8-bit signed weights, ``u8s8-7bit`` =
``reduce_range``, 7-bit weights, ``u8u8`` = unsigned weights), encodes the same preprocessed photos
with each and prints, per scheme, the mean and min cosine to fp32, the top-10 neighbour overlap
and images/s. ``--save``/``--load`` split it so that the second half (ONNX Runtime and numpy
only, no torch) can run under ``qemu-x86_64 -cpu Haswell``: ONNX Runtime's MLAS picks its
kernels from CPUID, so there it runs its AVX2 u8s8 kernels, whose ``vpmaddubsw`` adds pairs of
u8*s8 products into a saturating 16-bit sum (VNNI's ``vpdpbusd`` adds into 32 bits).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def cpu_features() -> str:
    from pixseek.encoders.cpu import cpu_flag_summary

    return cpu_flag_summary()


def save(args) -> Path:
    import tempfile

    import torch

    from pixseek.crawl import crawl
    from pixseek.encoders import ModelSpec, load_encoder
    from pixseek.encoders.onnx import OnnxEncoder
    from pixseek.imaging import decode_image

    out = Path(args.save or tempfile.mkdtemp(prefix="pixseek-int8-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PIXSEEK_CACHE", str(out / "cache"))
    enc = load_encoder(ModelSpec(args.model, args.pretrained, "cpu"))
    onnx_enc = OnnxEncoder(enc, precision="fp32")
    paths = sorted(f.path for f in crawl([args.folder]))[:args.limit or None]
    pixels = torch.stack([enc.preprocess(decode_image(p, min_side=enc.input_size).image) for p in paths])
    np.save(out / "pixels.npy", pixels.numpy().astype(np.float32))
    (out / "model.json").write_text(json.dumps({"model": enc.id, "photos": len(paths)}))
    src = onnx_enc.folder / "image.fp32.onnx"
    (out / "image.fp32.onnx").write_bytes(src.read_bytes())
    from pixseek.encoders.onnx import INT8_SCHEMES, quantize_scheme

    for scheme in INT8_SCHEMES:
        quantize_scheme(out / "image.fp32.onnx", out / f"image.{scheme}.onnx", scheme)
    return out


def evaluate(folder: Path, threads: int, schemes: list[str], limit: int = 0) -> None:
    from pixseek.encoders.onnx import _make_session, int8_agreement

    pixels = np.load(folder / "pixels.npy")[:limit or None]
    model = json.loads((folder / "model.json").read_text())["model"]
    print(f"{model}: {len(pixels)} photos; CPU: {cpu_features()}; load {os.getloadavg()[0]:.1f}")

    def run(name: str) -> tuple[np.ndarray, float]:
        sess = _make_session(folder / f"image.{name}.onnx", threads)
        sess.run(None, {"pixels": pixels[:2]})  # warm-up
        start = time.perf_counter()
        out = np.concatenate([sess.run(None, {"pixels": pixels[i:i + 32]})[0] for i in range(0, len(pixels), 32)])
        return out, len(pixels) / (time.perf_counter() - start)

    print(f"{'scheme':10s} {'cosine':>8s} {'min':>8s} {'top-10':>7s} {'images/s':>9s}")
    if (folder / "fp32.npy").is_file():  # the fp32 vectors from the native run (--save): no fp32 pass here
        ref = np.load(folder / "fp32.npy")[:len(pixels)]
    else:
        ref, ref_rate = run("fp32")
        np.save(folder / "fp32.npy", ref)
        print(f"{'fp32':10s} {1:8.4f} {1:8.4f} {1:7.3f} {ref_rate:9.2f}")
    for scheme in schemes:
        got, rate = run(scheme)
        cos, min_cos, overlap = int8_agreement(ref, got)
        print(f"{scheme:10s} {cos:8.4f} {min_cos:8.4f} {overlap:7.3f} {rate:9.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="random")
    ap.add_argument("--limit", type=int, default=0, help="the first N photos only")
    ap.add_argument("--save", help="write the graphs and pixels here (and evaluate unless --no-eval)")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--load", help="evaluate a folder written by --save (no torch needed)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--schemes", default="u8s8,u8s8-7bit,u8u8", help="comma-separated")
    args = ap.parse_args()
    schemes = args.schemes.split(",")
    if args.load:
        evaluate(Path(args.load), args.threads, schemes, args.limit)
        return
    if not args.folder:
        ap.error("FOLDER or --load is needed")
    folder = save(args)
    print(f"graphs and pixels in {folder}")
    if not args.no_eval:
        evaluate(folder, args.threads, schemes)


if __name__ == "__main__":
    main()
