"""Sharded embedding: ``pixseek index --shard I/N`` embeds a deterministic 1/N of the files.

A file belongs to shard ``1 + blake2b(path) mod N``: the same path lands in the same shard on every
machine, every run and every Python, and adding or removing files never moves the others (unlike
splitting a sorted list). N machines that see the photos under the same path each run one shard
into their own index folder, all filling one Milvus collection; ``pixseek merge`` then gathers their
catalogues into one index to search (see docs/scale-out.md).

Ids never collide across shards: shard I numbers its files from ``I * 2**40`` (an unsharded index
from 1), so each index owns the id range ``[I * 2**40, (I + 1) * 2**40)`` of the shared collection
and reconciles only that range with its catalogue.

>>> ShardSpec.parse("2/4").id_range == (2 * 2**40, 3 * 2**40)
True
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from .errors import PixseekError

ID_SPAN = 1 << 40  # ids per shard: 1.1e12 files, and room for 2**23 shards in an int64
MAX_SHARDS = (1 << 23) - 1
UNSHARDED_RANGE = (0, ID_SPAN)


class ShardError(PixseekError):
    """A bad ``--shard`` value, or one that does not match the index."""


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str | ShardSpec) -> ShardSpec:
        """``"I/N"`` with ``1 <= I <= N``."""
        if isinstance(text, ShardSpec):
            return text
        left, sep, right = str(text).strip().partition("/")
        try:
            index, count = int(left), int(right)
        except ValueError:
            index = count = 0
        if not sep or not 1 <= index <= count <= MAX_SHARDS:
            raise ShardError(f"--shard takes I/N with 1 <= I <= N (e.g. 2/4), not {text!r}")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def id_range(self) -> tuple[int, int]:
        """The ids this shard's catalogue hands out: ``[index * 2**40, (index + 1) * 2**40)``."""
        return self.index * ID_SPAN, (self.index + 1) * ID_SPAN

    def owns(self, path: str) -> bool:
        """Whether ``path`` (absolute, as the crawler reports it) belongs to this shard."""
        return shard_of(path, self.count) == self.index


def shard_of(path: str, count: int) -> int:
    """1-based shard of ``path`` among ``count``: BLAKE2b of its bytes, so stable everywhere."""
    digest = hashlib.blake2b(os.fsencode(path), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % count
