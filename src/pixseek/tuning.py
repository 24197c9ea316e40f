"""How much to run at once, per device: encoder batch size and decode workers.

On a CPU the decode workers and the encoder share the cores: one worker per core keeps the
encoder fed without starving it (ONNX Runtime's pool sleeps instead of spinning when idle, so the
two interleave). A GPU encodes hundreds of images per second, so every core decodes, batches are
large, and the batch goes over in pinned memory (see ``encoders.towers.to_device``).

    >>> batch_size_for("cpu"), batch_size_for("cuda")
    (32, 256)
"""

from __future__ import annotations

import os

CPU_BATCH = 32  # past 16-32, CPU throughput is flat and memory grows
GPU_BATCH = 256


def cpu_cores() -> int:
    """Cores this process may run on (affinity masks and pinned containers included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu`` (other values unchanged)."""
    if device not in ("", "auto"):
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def batch_size_for(device: str) -> int:
    return GPU_BATCH if resolve_device(device).startswith("cuda") else CPU_BATCH


def decode_workers_for(device: str) -> int:
    return cpu_cores()
