"""The adapter: ``y = normalize(x + A (B x))`` with ``A`` (dim, rank) starting at zero, so an untrained
adapter is the identity. Low rank keeps it small (rank 64 at d=1280: 0.6 MB) and keeps what it
changes to a few directions, which leaves photos unlike the labelled ones where they were.

It is saved as ``adapter-<digest>.npz`` next to the catalogue; the catalogue's meta key ``adapter``
names the file in use (a new tune writes a new file, so the name versions it with the index).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PixseekError

META_ADAPTER = "adapter"  # file name of the adapter in use (absent: the model's own vectors)
PREFIX = "adapter-"


@dataclass(frozen=True)
class Adapter:
    """A residual low-rank linear map on unit vectors; ``info`` says where it came from (JSON-able)."""

    a: np.ndarray  # (dim, rank) float32
    b: np.ndarray  # (rank, dim) float32
    info: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.b.shape[1])

    @property
    def rank(self) -> int:
        return int(self.b.shape[0])

    def apply(self, vecs: np.ndarray) -> np.ndarray:
        """Adapted unit vectors for ``vecs`` ``(n, dim)`` (or one ``(dim,)``), float32."""
        x = np.asarray(vecs, dtype=np.float32)
        one = x.ndim == 1
        x = x.reshape(-1, self.dim)
        y = x + (x @ self.b.T) @ self.a.T
        y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        y = np.ascontiguousarray(y, dtype=np.float32)
        return y[0] if one else y

    @functools.cached_property
    def digest(self) -> str:
        h = hashlib.blake2b(digest_size=8)
        h.update(np.ascontiguousarray(self.a, np.float32).tobytes())
        h.update(np.ascontiguousarray(self.b, np.float32).tobytes())
        return h.hexdigest()

    @property
    def file_name(self) -> str:
        return f"{PREFIX}{self.digest}.npz"

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/adapter-<digest>.npz`` atomically (temp file, fsync, rename)."""
        dest = Path(folder) / self.file_name
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".adapter-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, a=self.a.astype(np.float32), b=self.b.astype(np.float32),
                         info=np.asarray(json.dumps(self.info)))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return dest

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Adapter":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["a"].astype(np.float32), z["b"].astype(np.float32), json.loads(str(z["info"])))
        except FileNotFoundError as exc:
            raise PixseekError(f"the adapter file {path} is missing: run `pixseek tune` again, or "
                               "`pixseek tune --off` to go back to the model's own vectors") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise PixseekError(f"the adapter file {path} is unreadable ({exc}): run `pixseek tune` again, "
                               "or `pixseek tune --off`") from exc


def remove_unused(folder: str | os.PathLike, keep: str | None) -> None:
    """Delete adapter files other than ``keep`` (and temp files a killed save left)."""
    for name in os.listdir(folder):
        if (name.startswith(PREFIX) or name.startswith(".adapter-")) and name != keep:
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass
