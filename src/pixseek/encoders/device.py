"""Where an encoder runs: the one reading of ``--device`` that every back end and the tuning share.

``auto`` (or nothing) is ``cuda`` when torch sees a GPU, else ``cpu``; ``cpu``, ``cuda`` and
``cuda:N`` are kept as given (an explicit GPU index is never dropped). Asking for a GPU that torch
does not see, or for a device pixseek does not know, is a one-line ``ModelLoadError``.

    >>> resolve_device("cpu")
    'cpu'
"""

from __future__ import annotations

import re
import sys

from ..errors import ModelLoadError

AUTO = ("", "auto")
_CUDA = re.compile(r"cuda(?::(\d+))?")


def resolve_device(device: str | None, *, check: bool = True) -> str:
    """``auto`` -> ``cuda`` or ``cpu``; ``cpu``, ``cuda``, ``cuda:N`` unchanged.

    ``check=False`` reads the request without asking whether the GPU is there (for sizing work
    before anything loads); the encoders always check.
    """
    device = (device or "").strip()
    if device in AUTO:
        if "torch" not in sys.modules and not might_have_gpu():
            return "cpu"  # without importing torch (~2 s): a cached ONNX export then runs torch-free
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    match = _CUDA.fullmatch(device)
    if match is None:
        raise ModelLoadError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
    if check:
        _check_gpu(device, match.group(1))
    return device


def might_have_gpu() -> bool:
    """False when this machine surely has no CUDA GPU (no NVIDIA driver: no ``/proc/driver/nvidia``
    and no ``/dev/nvidia*``; ``CUDA_VISIBLE_DEVICES`` empty or ``-1``): then ``auto`` is ``cpu``
    without importing torch (once torch is imported, it is asked: that is free)."""
    import glob
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return os.path.exists("/proc/driver/nvidia") or bool(glob.glob("/dev/nvidia[0-9]*"))


def _check_gpu(device: str, index: str | None) -> None:
    import torch

    if not torch.cuda.is_available():
        raise ModelLoadError(f"--device {device} was asked for, but no CUDA GPU is available (use --device cpu)")
    count = torch.cuda.device_count()
    if index is not None and int(index) >= count:
        raise ModelLoadError(f"--device {device} was asked for, but torch sees {count} CUDA GPU"
                             f"{'' if count == 1 else 's'} (cuda:0 to cuda:{count - 1})")
