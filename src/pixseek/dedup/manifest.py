"""Manifests: the record of an action on duplicates that ``undo`` reverses.

A manifest is JSON lines in the library's ``manifests/`` folder: a header (``pixseek_manifest``:
the format version, the action, its target), one line per planned :class:`Step` with what undo
needs (content hash, mode, owner, times, the catalogue row and the vector), written and fsync'ed
before the first step; then a ``{"done": k}`` line as each step is done, and an ``undone_at`` line
after an undo.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalog import Catalog, FileRow
from ..errors import ActionError
from .files import fsync_dir

MANIFEST_VERSION = 1


@dataclass
class Step:
    """One planned file action: what is done to ``path``, and where it goes."""

    op: str  # move | trash | hardlink
    path: str
    keeper: str
    sha: str
    row: FileRow
    dest: str | None = None
    info: str | None = None  # trash: the .trashinfo file


def write_manifest(folder: Path, action: str, target: Path | None, catalog: Catalog, steps: list[Step]) -> Path:
    """Write (atomically, fsync'ed) a new manifest in ``folder`` for ``steps``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{action}-{uuid.uuid4().hex[:6]}.jsonl"
    vectors = {}
    for start in range(0, len(steps), 500):
        chunk = [s.row.id for s in steps[start:start + 500]]
        for fid, vec in zip(chunk, catalog.vectors(chunk) if chunk else []):
            vectors[fid] = base64.b64encode(np.ascontiguousarray(vec, np.float32).tobytes()).decode()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"pixseek_manifest": MANIFEST_VERSION, "action": action, "created": time.time(),
                             "target": str(target) if target else None, "steps": len(steps)}) + "\n")
        for s in steps:
            st = os.stat(s.path)
            fh.write(json.dumps({
                "op": s.op, "path": s.path, "dest": s.dest, "info": s.info, "keeper": s.keeper, "sha": s.sha,
                "size": st.st_size, "mtime_ns": st.st_mtime_ns, "atime_ns": st.st_atime_ns, "mode": st.st_mode,
                "uid": st.st_uid, "gid": st.st_gid,
                "row": {"width": s.row.width, "height": s.row.height, "taken_at": s.row.taken_at,
                        "format": s.row.format},
                "vector": vectors.get(s.row.id)}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(str(folder))
    return path


def manifests(folder: Path) -> list[Path]:
    """Manifests in ``folder``, newest first."""
    return sorted(folder.glob("*.jsonl"), reverse=True) if folder.is_dir() else []


def read_manifest(manifest: str | os.PathLike) -> tuple[dict, list[dict]]:
    """The header and the planned steps of a manifest."""
    try:
        with open(manifest, encoding="utf-8") as fh:
            lines = [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError as exc:
        raise ActionError(f"no manifest at {manifest}") from exc
    except (OSError, ValueError) as exc:
        raise ActionError(f"cannot read the manifest {manifest}: {exc}") from exc
    if not lines or lines[0].get("pixseek_manifest") != MANIFEST_VERSION:
        raise ActionError(f"{manifest} is not a pixseek manifest")
    return lines[0], [line for line in lines[1:] if "op" in line]


def step_vector(step: dict) -> np.ndarray | None:
    """The vector a step recorded for its file (to put its row back), if any."""
    blob = step.get("vector")
    return np.frombuffer(base64.b64decode(blob), dtype=np.float32).copy() if blob else None
