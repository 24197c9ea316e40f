"""Starting the real web UI for tests: a library of real photos, served on a free loopback port."""

from __future__ import annotations

import shutil
import socket
from contextlib import contextmanager
from pathlib import Path

import pixseek


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(photo_dir: Path, workdir: Path, model: str):
    """Yields (url, lib, gallery folder) for an app serving a fresh index of a copy of ``photo_dir``."""
    from pixseek.ui import launch

    gallery = workdir / "gallery"
    shutil.copytree(photo_dir, gallery)
    lib = pixseek.open(workdir / "db", model=model)
    lib.index([gallery])
    app, url = launch(lib, port=free_port(), block=False)
    try:
        yield url.rstrip("/"), lib, gallery
    finally:
        app.close()
        lib.close()
