"""Sizes for people to read, shared by the CLI, the HTML report and the web UI.

    >>> human_size(512), human_size(1536), human_size(3 * 1024 ** 3), human_size(5, "bytes")
    ('512 B', '1.5 KB', '3.0 GB', '5 bytes')
"""

from __future__ import annotations


def human_size(n: float, byte_unit: str = "B") -> str:
    """``n`` bytes in the largest unit up to GB that keeps the number under 1024 (one decimal
    from KB up); whole bytes are named ``byte_unit``."""
    size = float(n)
    for unit in (byte_unit, "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == byte_unit else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
