"""``python -m pixseek.encoders.export_job MODEL_ID``: export one model to the ONNX cache and quit.

Started detached and at the lowest priority by a run that was too small to export in-process
(``encoders.switching``), so that the next run and every text query load the export instead of
torch. One job per model at a time (a lock file); any failure just leaves the cache without it.
"""

from __future__ import annotations

import fcntl
import sys


def main(argv: list[str]) -> int:
    from .base import ModelSpec
    from .onnx import OnnxEncoder, cache_dir_for, int8_scheme, is_cached
    from .registry import load_encoder

    if len(argv) != 1:
        print("usage: python -m pixseek.encoders.export_job MODEL_ID", file=sys.stderr)
        return 2
    encoder_id = argv[0]
    folder = cache_dir_for(encoder_id)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another job is on it
        if is_cached(encoder_id):
            return 0
        try:
            enc = OnnxEncoder(load_encoder(ModelSpec.parse(encoder_id, "cpu")), precision="int8",
                              scheme=int8_scheme())
            enc.warm_up()
        except Exception as exc:
            print(f"pixseek: no ONNX export for {encoder_id}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
