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

from .encoders.device import resolve_device

CPU_BATCH = 32  # past 16-32, CPU throughput is flat and memory grows
GPU_BATCH = 256


def cpu_cores() -> int:
    """Cores this process may run on (affinity masks and pinned containers included)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def batch_size_for(device: str) -> int:
    # check=False: sizing reads the request; the encoder refuses a GPU that is not there
    return GPU_BATCH if resolve_device(device, check=False).startswith("cuda") else CPU_BATCH


def decode_workers_for(device: str) -> int:
    return cpu_cores()
