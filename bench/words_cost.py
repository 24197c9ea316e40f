"""What the words side costs: `pixseek index` time with --ocr off vs --ocr auto on ordinary photos,
OCR images/s on text-heavy screenshots, and catalogue growth per photo. Everything in one run.

    python bench/words_cost.py [FOLDER] [--model ViT-B-32 --pretrained random] [--rounds 2]

FOLDER: ordinary photos, default the wallpapers of `python bench/wallpapers.py`
(~/.cache/pixseek-bench/large, 54 real photos of 2560-5640 px). `--pretrained random` is
compute-equal to the real ViT-B-32 weights (which can't be downloaded here). Screenshots are made
here: terminal, web-page and Chinese-page renderings of 1280x800 (PIL, Debian fonts).

Prints, all measured in this run:
- index time per setting (each a fresh index; the settings alternate over --rounds, best of each
  kept) and the ratio auto/off (goal: <= 1.30);
- on the screenshots: index time with --ocr off and on, the OCR rate that difference implies, and
  RapidOCR alone (the engine, default settings, one image at a time) in images/s;
- catalogue bytes per photo for each setting, and the bytes of the tables that hold words;
- CPU flags and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from index_throughput import cpu_features  # noqa: E402  the bench helper every speed figure uses
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

import pixseek  # noqa: E402
from pixseek.evaluation.words import available_fonts, find_font  # noqa: E402

GOAL_RATIO = 1.30
DEFAULT_FOLDER = Path.home() / ".cache" / "pixseek-bench" / "large"
WORDS = ("router login password admin network wireless settings firmware update status gateway "
         "subnet mask address server client port firewall backup restore reboot device channel "
         "security encryption invoice total amount customer order shipping delivery receipt date "
         "meeting agenda project budget quarter revenue report summary deadline review").split()
CHINESE = ("网络设置 无线 密码 管理员 路由器 登录 固件 更新 状态 网关 服务器 客户端 端口 防火墙 备份 "
           "恢复 重启 设备 频道 安全 加密 发票 总计 金额 客户 订单 配送 收据 日期 会议 议程 项目 预算").split()


# -- screenshots ---------------------------------------------------------------------------------------
def make_screenshots(dest: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` text-heavy 1280x800 PNG screenshots: terminals, web pages, Chinese pages in turn."""
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    mono = find_font("dejavu/DejaVuSansMono.ttf")
    sans = find_font("dejavu/DejaVuSans.ttf")
    bold = find_font("dejavu/DejaVuSans-Bold.ttf")
    cjk = (available_fonts(chinese=True) or [None])[0]
    kinds = ["terminal", "web"] + (["chinese"] if cjk else [])
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        img = Image.new("RGB", (1280, 800), (24, 24, 28) if kind == "terminal" else (255, 255, 255))
        d = ImageDraw.Draw(img)
        if kind == "terminal":
            f = ImageFont.truetype(str(mono), 16)
            for y in range(12, 790, 22):
                line = f"user@host:~$ {' '.join(rng.choices(WORDS, k=rng.randint(3, 9)))} {rng.randint(0, 99999)}"
                d.text((12, y), line, font=f, fill=rng.choice([(220, 220, 220), (120, 230, 120), (240, 200, 90)]))
        else:
            d.rectangle((0, 0, 1280, 56), fill=(40, 90, 170))
            title_font = ImageFont.truetype(str(cjk if kind == "chinese" else bold), 26)
            body_font = ImageFont.truetype(str(cjk if kind == "chinese" else sans), 18)
            vocab, sep = (CHINESE, "") if kind == "chinese" else (WORDS, " ")
            d.text((24, 12), sep.join(rng.choices(vocab, k=3)).title(), font=title_font, fill="white")
            y = 80
            while y < 760:
                if rng.random() < 0.15:  # a form field
                    d.text((40, y), sep.join(rng.choices(vocab, k=2)), font=body_font, fill=(30, 30, 30))
                    d.rectangle((260, y - 4, 700, y + 26), outline=(150, 150, 150), width=2)
                    y += 44
                else:
                    d.text((40, y), sep.join(rng.choices(vocab, k=rng.randint(6, 14))), font=body_font,
                           fill=(30, 30, 30))
                    y += 30
        path = dest / f"screenshot-{i:03d}-{kind}.png"
        img.save(path)
        out.append(path)
    return out


# -- measurements --------------------------------------------------------------------------------------
def index_once(folder: Path, ocr: str, model: str, pretrained: str | None, device: str) -> tuple[float, dict]:
    """Seconds to index ``folder`` into a fresh library (model load included), and its catalogue's sizes."""
    db = Path(tempfile.mkdtemp(prefix="words-cost-"))
    try:
        with pixseek.open(db, model=model, pretrained=pretrained, device=device, ocr=ocr) as lib:
            t = time.perf_counter()
            report = lib.index([folder])
            seconds = time.perf_counter() - t
        return seconds, {"photos": report.added, **catalogue_sizes(db / "catalog.sqlite")}
    finally:
        shutil.rmtree(db, ignore_errors=True)


def catalogue_sizes(path: Path) -> dict:
    """File size after a checkpoint, and bytes per table (SQLite's dbstat)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = dict(con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
        ocr = con.execute("SELECT COUNT(DISTINCT sha) FROM words WHERE kind = 'ocr'").fetchone()[0] if "words" in tables else 0
    finally:
        con.close()
    return {"bytes": path.stat().st_size, "tables": tables, "ocr_photos": ocr}


def words_bytes(tables: dict) -> int:
    """Bytes of the tables (and their indexes) that hold words: ``words``, ``words_fts`` and its shadow
    tables, ``path_words``, ``word_problems`` (catalogue schema of the words signals)."""
    return sum(v for k, v in tables.items() if "word" in k.lower())


def rapidocr_rate(paths: list[Path]) -> tuple[float, int]:
    """RapidOCR alone (the engine pixseek's OCR runs), images/s after one warm-up, and text lines found."""
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    engine(arrays[0])
    lines = 0
    t = time.perf_counter()
    for a in arrays:
        result, _ = engine(a)
        lines += len(result or [])
    return len(arrays) / (time.perf_counter() - t), lines


def print_sizes(runs: dict[str, dict]) -> None:
    print("catalogue per photo (catalog.sqlite after a checkpoint; words = the words tables; small sets pay "
          "whole 4 KiB pages per table):")
    for label, s in runs.items():
        p = max(s["photos"], 1)
        print(f"  {label:22s} {s['bytes'] / p / 1024:7.1f} KiB/photo, of which words "
              f"{words_bytes(s['tables']) / p / 1024:6.1f} KiB/photo")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="random")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=2, help="each setting is timed this many times (best kept)")
    ap.add_argument("--screenshots", type=int, default=8, help="how many (0: skip the screenshot part)")
    args = ap.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"bench/words_cost.py: no folder {args.folder} (make it: python bench/wallpapers.py)")
    print(f"CPU: {cpu_features()}; {os.cpu_count()} cores; load before: {load()}")
    print(f"model {args.model} ({args.pretrained}) on {args.device}; photos: {args.folder}")

    index_once(args.folder, "off", args.model, args.pretrained, args.device)  # warm-up: file cache, imports
    times: dict[str, list[float]] = {"off": [], "auto": []}
    sizes: dict[str, dict] = {}
    for r in range(args.rounds):
        for ocr in (("off", "auto") if r % 2 == 0 else ("auto", "off")):
            seconds, sizes[ocr] = index_once(args.folder, ocr, args.model, args.pretrained, args.device)
            times[ocr].append(seconds)
            print(f"  round {r + 1} --ocr {ocr:4s}: {seconds:6.1f} s  ({sizes[ocr]['photos']} photos, "
                  f"{sizes[ocr]['ocr_photos']} with text found by OCR)", flush=True)
    best = {k: min(v) for k, v in times.items()}
    ratio = best["auto"] / best["off"]
    print(f"ordinary photos: index --ocr off {best['off']:.1f} s, --ocr auto {best['auto']:.1f} s: "
          f"ratio {ratio:.2f} (goal <= {GOAL_RATIO:.2f}: {'met' if ratio <= GOAL_RATIO else 'MISSED'})")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"  medians: off {med['off']:.1f} s, auto {med['auto']:.1f} s: ratio {med['auto'] / med['off']:.2f} "
          "(other jobs on the machine move single runs; compare both)")

    if args.screenshots <= 0:
        print_sizes({"photos --ocr off": sizes["off"], "photos --ocr auto": sizes["auto"]})
        print(f"load after: {load()}")
        return
    shots_dir = Path(tempfile.mkdtemp(prefix="words-cost-shots-"))
    try:
        shots = make_screenshots(shots_dir, args.screenshots)
        s_off, s_sizes_off = index_once(shots_dir, "off", args.model, args.pretrained, args.device)
        s_on, s_sizes_on = index_once(shots_dir, "on", args.model, args.pretrained, args.device)
        n = len(shots)
        print(f"screenshots ({n}, 1280x800): index --ocr off {s_off:.1f} s, --ocr on {s_on:.1f} s; "
              f"OCR in the pipeline {n / max(s_on - s_off, 1e-9):.2f} images/s (from the difference); "
              f"index with OCR {n / s_on:.2f} images/s")
        rate, lines = rapidocr_rate(shots)
        print(f"RapidOCR alone on the screenshots: {rate:.2f} images/s ({lines / n:.0f} text lines per image)")
    finally:
        shutil.rmtree(shots_dir, ignore_errors=True)

    print_sizes({"photos --ocr off": sizes["off"], "photos --ocr auto": sizes["auto"],
                 "screenshots --ocr off": s_sizes_off, "screenshots --ocr on": s_sizes_on})
    big = sorted(s_sizes_on["tables"].items(), key=lambda kv: -kv[1])[:12]
    print("  screenshots --ocr on, largest tables: " + ", ".join(f"{k} {v // 1024} KiB" for k, v in big))
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
