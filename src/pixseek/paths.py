"""Paths as folders: one test for "this path is that folder or inside it", one normal form.

Both work on names (nothing is resolved): a symlink is where its name says it is.

    >>> is_under("/p/a/b.jpg", "/p/a"), is_under("/p/ab.jpg", "/p/a")
    (True, False)
"""

from __future__ import annotations

import os


def is_under(path: str, folder: str) -> bool:
    """``path`` is ``folder`` itself or a file or folder below it (``/p/ab`` is not under ``/p/a``)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def norm_dir(path: str) -> str:
    """An absolute folder name, ``~`` expanded, without a trailing separator (``/`` stays ``/``)."""
    return os.path.abspath(os.path.expanduser(path)).rstrip(os.sep) or os.sep
