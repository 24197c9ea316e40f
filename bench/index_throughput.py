"""Indexing throughput: the plain open_clip loop against `pixseek index`, same folder, same weights.

    python bench/index_throughput.py FOLDER [--model ViT-B-32 --pretrained random]
                                     [--backend auto --precision int8] [--device cpu|cuda]

Prints, all measured in this run:
- the machine: achievable fp32 GFLOP/s (a large sgemm through torch) and the encoder's GFLOP/image;
- the plain loop peers write (open, convert, preprocess, batch 32, encode; one Python thread);
- the model alone on pre-decoded tensors (torch fp32, and pixseek's encoder), so decoding shows;
- `pixseek index` (a warm-up run first, which pays the one-time ONNX export and int8 check);
- the ratios, and the goals (index >= 5x the plain loop; encoder >= 18 images/s for ViT-B-32).

`--pretrained random` is compute-equal to real weights (weights can't be downloaded here).
Folder of large real photos: `python bench/wallpapers.py`. Times are wall-clock; other load on
the machine moves them, the ratios less so.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from PIL import Image  # noqa: E402

import pixseek  # noqa: E402
from pixseek.crawl import crawl  # noqa: E402
from pixseek.encoders import ModelSpec, load_encoder  # noqa: E402
from pixseek.imaging import decode_image  # noqa: E402

GOAL_INDEX_RATIO = 5.0
GOAL_ENCODER_RATE = 18.0  # images/s, ViT-B-32 on the 2-core reference machine


def cpu_features() -> str:
    """The SIMD extensions that decide int8 and fp32 speed (VNNI: int8 dot products in one step),
    and the int8 scheme pixseek picks for them (``encoders.onnx.int8_scheme``)."""
    from pixseek.encoders.cpu import cpu_flag_summary
    from pixseek.encoders.onnx import int8_scheme

    return f"{cpu_flag_summary()}; int8 scheme {int8_scheme()}"


def sgemm_gflops(n: int = 3072, repeats: int = 3) -> float:
    """Best achievable fp32 GFLOP/s of a large square matmul (torch, default threads)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def encoder_gflop_per_image(model, size: int) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    # grad on: under no_grad, attention takes a fused kernel that the counter does not see
    with FlopCounterMode(display=False) as counter:
        model.encode_image(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system): unlike wall time, other processes
    on the machine barely change it, so CPU-seconds per photo is the steadier measure of work."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plain_loop(paths: list[str], model, preprocess, device: str, batch_size: int = 32) -> float:
    """What peers' scripts do: PIL open, convert, preprocess, batch, encode. Returns images/s."""
    import torch

    start = time.perf_counter()
    for i in range(0, len(paths), batch_size):
        batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[i:i + batch_size]])
        with torch.no_grad():
            feats = model.encode_image(batch.to(device))
            feats = (feats / feats.norm(dim=-1, keepdim=True)).cpu()
    return len(paths) / (time.perf_counter() - start)


def model_only(encode, tensors, batch_size: int) -> float:
    """images/s of ``encode`` on pre-decoded, preprocessed tensors (after a warm-up batch)."""
    import torch

    encode(torch.stack(tensors[:min(batch_size, len(tensors))]))
    best = 0.0
    for _ in range(2):  # the better of two passes: other load on the machine only slows
        start = time.perf_counter()
        for i in range(0, len(tensors), batch_size):
            encode(torch.stack(tensors[i:i + batch_size]))
        best = max(best, len(tensors) / (time.perf_counter() - start))
    return best


def decode_ms(paths: list[str], min_side: int | None) -> float:
    start = time.perf_counter()
    for p in paths:
        decode_image(p, min_side=min_side)
    return (time.perf_counter() - start) / len(paths) * 1000


def prepare_ms(folder: str, enc) -> float:
    """CPU-ms per photo of everything the indexer does to a photo before encoding it (read, hash,
    decode, orient, preprocess, perceptual hashes): its own ``Preparer.prepare`` over the folder, run by a
    pool of decode threads as the indexer runs it, best of two. (Run serially in the main thread,
    the same work measured ~8 ms more per photo: torch's OpenMP team spinning between its small
    preprocessing ops, a cost the worker threads do not pay.)"""
    from concurrent.futures import ThreadPoolExecutor

    from pixseek.indexing import Change
    from pixseek.indexing.pipeline import Preparer
    from pixseek.indexing.signals import eager_signals
    from pixseek.tuning import decode_workers_for

    files = list(crawl([folder]))
    preparer = Preparer(lambda: enc, eager_signals())
    best = float("inf")
    with ThreadPoolExecutor(decode_workers_for("cpu")) as pool:
        for _ in range(2):
            start = time.process_time()
            list(pool.map(lambda f: preparer.prepare(Change("add", f)), files))
            best = min(best, (time.process_time() - start) / len(files) * 1000)
    return best


def pixseek_index(folder: str, args, db: Path):
    lib = pixseek.open(db, model=args.model, pretrained=args.pretrained, device=args.device,
                       backend=args.backend, precision=args.precision)
    lib.encoder.warm_up()  # loaded (ONNX sessions included) before the clock starts, as the plain loop's model is
    report = lib.index([folder], batch_size=args.batch_size, workers=args.workers)
    return report.added / report.seconds, lib, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="random")
    ap.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    ap.add_argument("--precision", default="int8", choices=["auto", "fp32", "int8"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch-size", type=int, default=None, help="pixseek's batch (default 32, 256 on cuda)")
    ap.add_argument("--workers", type=int, default=None, help="pixseek's decode workers (default: its own)")
    ap.add_argument("--limit", type=int, default=0, help="use the first N photos only")
    ap.add_argument("--repeat", type=int, default=2, help="alternate plain loop / pixseek this many times")
    ap.add_argument("--skip-progressive", action="store_true",
                    help="only the baseline JPEGs (what cameras and phones write), copied to a temporary folder")
    args = ap.parse_args()
    args.batch_size = args.batch_size or (256 if args.device == "cuda" else 32)
    import open_clip
    import torch

    paths = sorted(f.path for f in crawl([args.folder]))
    paths = paths[:args.limit] if args.limit else paths
    if args.skip_progressive or args.limit:
        subset = Path(tempfile.mkdtemp(prefix="pixseek-bench-photos-"))
        atexit.register(shutil.rmtree, subset, ignore_errors=True)
        paths = [p for p in paths if not (args.skip_progressive and Image.open(p).info.get("progressive"))]
        for p in paths:
            shutil.copy(p, subset / Path(p).name)
        args.folder = str(subset)
        paths = sorted(str(subset / Path(p).name) for p in paths)
    if not paths:
        raise SystemExit(f"no images in {args.folder}")
    sizes = [Image.open(p).size for p in paths]
    progressive = sum(bool(Image.open(p).info.get("progressive")) for p in paths)
    print(f"folder: {len(paths)} photos ({progressive} progressive JPEGs: draft decoding barely helps those), "
          f"longer side {min(max(s) for s in sizes)}-{max(max(s) for s in sizes)} px; "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.1f}")

    # -- the machine and the model ----------------------------------------------------------------
    gflops = sgemm_gflops()
    print(f"CPU: {cpu_features()}")
    torch.manual_seed(0)  # pixseek's `random` weights use the same seed: the same model
    pretrained = None if args.pretrained == "random" else args.pretrained
    model, _, preprocess = open_clip.create_model_and_transforms(args.model, pretrained=pretrained,
                                                                 device=args.device)
    model.eval()
    size = int(model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size)
    per_image = encoder_gflop_per_image(model.cpu(), size)
    model.to(args.device)
    print(f"machine: sgemm {gflops:.0f} GFLOP/s; {args.model} image tower {per_image:.2f} GFLOP/image "
          f"-> compute ceiling {gflops / per_image:.1f} images/s")

    # -- decoding ----------------------------------------------------------------------------------
    sample = paths[:min(12, len(paths))]
    full, draft = decode_ms(sample, None), decode_ms(sample, size)
    print(f"decode+orient per photo: full {full:.0f} ms, draft to >= 2x{size} px {draft:.0f} ms")


    # -- model only ----------------------------------------------------------------------------------
    tensors = [preprocess(decode_image(p, min_side=size).image) for p in paths[:64]]

    def torch_encode(batch):
        with torch.no_grad():
            return model.encode_image(batch.to(args.device)).cpu()

    torch_rate = model_only(torch_encode, tensors, 32)
    print(f"model only, torch fp32 eager:    {torch_rate:6.2f} images/s  ({torch_rate * per_image / gflops:.0%} of sgemm)")
    enc = load_encoder(ModelSpec(args.model, args.pretrained, args.device), args.backend, args.precision)
    if hasattr(enc, "precision") and args.precision in ("int8", "auto"):
        enc.encode_pixels(torch.stack(tensors[:32]))  # a first sample, so the int8 check can settle
        enc.drain_notes()
    label = f"{type(enc).__name__} {getattr(enc, 'active_precision', 'fp32')}"
    enc_rate = model_only(enc.encode_pixels, tensors, 32)
    print(f"model only, pixseek ({label}): {enc_rate:6.2f} images/s  ({enc_rate * per_image / gflops:.0%} of sgemm)")
    # what the decode workers do per photo, against what the encoder does (which uses every core)
    prep = prepare_ms(args.folder, enc)
    encoding = f", encoding it {(os.cpu_count() or 1) / enc_rate * 1000:.0f} ms" if args.device == "cpu" else ""
    print(f"CPU work per photo: preparing it (read, hash, decode, preprocess, perceptual hashes) {prep:.0f} ms"
          + encoding)
    del enc

    # -- the plain loop and pixseek index, alternated; the best of each counts -------------------------
    tmp = Path(tempfile.mkdtemp(prefix="pixseek-bench-"))
    plain, rate = 0.0, 0.0
    try:
        warm, lib, report = pixseek_index(args.folder, args, tmp / "warm")
        lib.close()
        for note in report.notes:
            print(f"  note: {note}")
        print(f"pixseek index, first run:        {warm:6.2f} images/s  (incl. one-time export/int8 check)")
        cpu_plain, cpu_index = float("inf"), float("inf")
        for r in range(args.repeat):
            c0 = cpu_seconds()
            p = plain_loop(paths, model, preprocess, args.device)
            c1 = cpu_seconds()
            x, lib, report = pixseek_index(args.folder, args, tmp / f"timed{r}")
            c2 = cpu_seconds()
            enc = lib.encoder
            lib.close()
            cpu_plain = min(cpu_plain, (c1 - c0) / len(paths))
            cpu_index = min(cpu_index, (c2 - c1) / len(paths))
            print(f"plain open_clip loop:            {p:6.2f} images/s, {(c1 - c0) / len(paths) * 1000:4.0f} CPU-ms/photo")
            print(f"pixseek index:                   {x:6.2f} images/s, {(c2 - c1) / len(paths) * 1000:4.0f} CPU-ms/photo "
                  f"(load average {os.getloadavg()[0]:.1f})")
            plain, rate = max(plain, p), max(rate, x)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"pixseek index ({type(enc).__name__} {getattr(enc, 'active_precision', 'fp32')}, "
          f"batch {args.batch_size}): best {rate:.2f} images/s; plain loop best {plain:.2f} images/s")
    # the sgemm rate again: load from other processes only lowers it, so the better of the two counts
    gflops = max(gflops, sgemm_gflops())
    print(f"\nsgemm (best of start and end of the run): {gflops:.0f} GFLOP/s")
    ratio = rate / plain
    print(f"index vs plain loop: {ratio:.2f}x   (goal >= {GOAL_INDEX_RATIO:.0f}x: "
          f"{'met' if ratio >= GOAL_INDEX_RATIO else 'NOT met'})")
    print(f"encoder alone: {enc_rate:.1f} images/s = {enc_rate / torch_rate:.2f}x torch eager, "
          f"{enc_rate * per_image:.0f} GFLOP/s (int8 ops counted as FLOPs) = {enc_rate * per_image / gflops:.0%} "
          f"of sgemm; torch eager {torch_rate * per_image:.0f} GFLOP/s = {torch_rate * per_image / gflops:.0%} "
          f"(goal >= {GOAL_ENCODER_RATE:.0f} images/s for ViT-B-32: "
          f"{'met' if enc_rate >= GOAL_ENCODER_RATE else 'NOT met'})")
    print(f"index vs encoder alone: {rate / enc_rate:.0%} (what decoding and bookkeeping leave)")
    print(f"CPU work per photo: plain loop {cpu_plain * 1000:.0f} ms, pixseek index {cpu_index * 1000:.0f} ms "
          f"({cpu_plain / cpu_index:.2f}x less; on an idle machine pixseek spreads it over "
          f"{os.cpu_count()} cores, the plain loop's decoding runs on one)")


if __name__ == "__main__":
    main()
