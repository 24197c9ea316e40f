"""What this CPU can do for int8: one place that reads the flags, so tests can inject others.

ONNX Runtime's x86 int8 GEMMs (MLAS) multiply unsigned 8-bit activations by signed 8-bit weights.
With VNNI (``avx512_vnni`` or ``avx_vnni``) one instruction adds four such products into a 32-bit
sum: exact. Without it (AVX2 only: Zen 2/3, Intel before Ice Lake) ``vpmaddubsw`` adds *pairs* of
products into a saturating 16-bit sum: 2 x 255 x 127 = 64,770 > 32,767, so large activations
meeting large weights clip, and vectors drift (cosine 0.976 for ViT-B-32). ``int8_scheme`` picks
the quantisation that cannot clip on this CPU (see ``encoders.onnx.INT8_SCHEMES``).

    >>> has_int8_dot_product({"avx2", "fma"}), has_int8_dot_product({"avx2", "avx512_vnni"})
    (False, True)
"""

from __future__ import annotations

import functools
import platform

# the SIMD extensions that decide int8 and fp32 speed, as /proc/cpuinfo names them
REPORTED = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
# numpy's CPUID names for the same (numpy asks the CPU itself, which an emulator answers too)
_NUMPY_NAMES = {"AVX2": "avx2", "FMA3": "fma", "AVX512F": "avx512f", "AVX512VNNI": "avx512_vnni",
                "AVX512BF16": "avx512_bf16"}


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (lower case, /proc/cpuinfo spelling). numpy's CPUID probe is the
    authority for what it knows; /proc/cpuinfo adds the rest (``avx_vnni``, ``amx_int8``)."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    features = _numpy_features()
    for name, flag in _NUMPY_NAMES.items():
        if name in features:
            (flags.add if features[name] else flags.discard)(flag)
    return frozenset(flags)


def _numpy_features() -> dict[str, bool]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return dict(__cpu_features__)


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def has_int8_dot_product(flags: frozenset[str] | set[str] | None = None) -> bool:
    """True when int8 products add into 32 bits in one step (VNNI), so no 16-bit sum can clip."""
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags))


def cpu_flag_summary(flags: frozenset[str] | set[str] | None = None) -> str:
    """``avx2, fma, avx512f, avx512_vnni`` -- printed with every speed figure."""
    flags = cpu_flags() if flags is None else flags
    found = [n for n in REPORTED if n in flags]
    return ", ".join(found) if found else (f"none of {', '.join(REPORTED)}" if is_x86() else platform.machine())
